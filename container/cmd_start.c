/*
 * pupa start: the one-shot container. The walk through ContainerStatus is
 * the spine of this file: each state is entered in order, every time, and
 * the work behind the states overlaps (the image is pulled on a thread from
 * kTransient on, while the guest boots).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_link.h"
#include "agent_proto.h"
#include "cache.h"
#include "cmd.h"
#include "datadir.h"
#include "fetch.h"
#include "network.h"
#include "volumes.h"
#include "oci.h"
#include "progress.h"
#include "pull.h"
#include "reference.h"
#include "source.h"
#include "rootfs_disk.h"
#include "run_config.h"
#include "rundir.h"
#include "snapshot.h"
#include "start_options.h"
#include "vmm_proc.h"

#define START_AGENT_PORT 1024
#define START_BOOT_TIMEOUT_MS 60000
#define START_CONSOLE_TAIL 4	/* lines of it that a boot that never ended shows */

/* The pull, on its own thread, as the walk sees it. */
struct start_pull {
	pthread_t thread;
	pthread_mutex_t lock;
	const struct cache *cache;
	struct pull_options o;
	struct pull_progress last[2];	/* Downloading, Extracting */
	int seen[2];
	int done, ret;
	struct pull_result res;
	struct pupa_err err;
	volatile sig_atomic_t abort;
};

struct start {
	struct start_opts *o;
	struct progress *p;
	FILE *status_out;
	struct datadir dd;
	struct cache cache;
	char rundir[4096];
	int rundir_lock;		/* flock held while we run (rundir.h) */
	struct vmm_proc vmm;
	int vmm_started;
	struct agent_link agent;
	int agent_listening;
	struct start_pull pull;
	int pull_started;
	int image_hold;
	struct rootfs_disk disk;
	enum container_status state;
	double t_state[9];		/* when each state was entered */
	double t_end;
	double t_stopped;		/* VM gone, run folder removed */
	volatile sig_atomic_t *sig;
	volatile sig_atomic_t winch;
	int exited;			/* the command ran and ended */
	struct snapshot snap;
	int snap_on;			/* snapshots are used (key worked out) */
	int restoring;			/* this start resumes snap.path */
	double t_snapshot;		/* seconds this start spent making one */
};

static struct start *start_self;	/* for the SIGWINCH handler */

static double start__now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void start__on_winch(int sig)
{
	(void)sig;
	if (start_self)
		start_self->winch = 1;
}

/* ---- the walk ------------------------------------------------------------ */

static void start__enter(struct start *s, enum container_status st)
{
	if (s->state)
		progress_leave(s->p);
	s->state = st;
	s->t_state[st] = start__now();
	progress_enter(s->p, st);
}

/*
 * The start failed in a state: said once, as Failed. tty and plain show it
 * in the progress display; otherwise (none, json, or --status-fd) stderr
 * gets the one line, the problem first and the seed's names after it.
 */
static int start__failed(struct start *s, enum container_status in, int status, char *reason,
			 const struct pupa_err *err)
{
	char named[1200];

	if (!in)
		in = s->state;
	pupa_text_sanitize(reason);	/* guest console lines, HTTP reasons */
	progress_fail_err(s->p, in, reason, err);
	if (!progress_shows_failure(s->p) || s->status_out) {
		if (err && err->code)
			pupa_err_format(err, named, sizeof(named));
		else
			snprintf(named, sizeof(named), "%s", reason);
		fprintf(stderr, "pupa: failed in %s: %s\n", pupa_enum_human(PUPA_CONTAINER_STATUS, in),
			named);
	}
	s->state = CONTAINER_STATUS_FAILED;
	return status;
}

static int start__fail(struct start *s, enum container_status in, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int start__fail(struct start *s, enum container_status in, int status, const char *fmt, ...)
{
	char reason[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return start__failed(s, in, status, reason, NULL);
}

static int start__fail_err(struct start *s, enum container_status in, int status,
			   const struct pupa_err *err)
{
	char reason[sizeof(err->msg)];

	snprintf(reason, sizeof(reason), "%s", err->msg);
	return start__failed(s, in, status, reason, err);
}

/* ---- the pull thread -------------------------------------------------------- */

static void start__pull_progress(void *opaque, const struct pull_progress *pp)
{
	struct start_pull *sp = opaque;
	int i = pp->stage == CONTAINER_STATUS_EXTRACTING;

	pthread_mutex_lock(&sp->lock);
	sp->last[i] = *pp;
	sp->last[i].note = NULL;	/* its storage is the pull's */
	sp->seen[i] = 1;
	pthread_mutex_unlock(&sp->lock);
}

static void *start__pull_thread(void *opaque)
{
	struct start_pull *sp = opaque;
	int ret = pull_image(sp->cache, &sp->o, &sp->res, &sp->err);

	pthread_mutex_lock(&sp->lock);
	sp->ret = ret;
	sp->done = 1;
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

/* The name the cache records a remote IMAGE under (pull_canonical's); 0
 * for a local one. */
static int start__remote_name(const char *image, char *out, size_t len)
{
	struct pupa_err ignore = { 0 };
	struct image_ref ref;
	struct source src;
	const char *why;

	switch (image_kind_of(image)) {
	case IMAGE_REGISTRY:
		if (image_ref_parse(image, &ref, &why) < 0)
			return 0;	/* the pull says what is wrong with it */
		break;
	case IMAGE_TARBALL:
		if (source_parse(image, &src, &ignore) < 0 || src.kind != SOURCE_HTTP)
			return 0;
		break;
	default:
		return 0;
	}
	pull_canonical(image, out, len);
	return 1;
}

struct start_by_name {
	const struct cache *cache;
	const char *name;
	char digest[DIGEST_HEX_LEN + 1];
};

static int start__by_name(const struct cache_meta *m, void *opaque)
{
	struct start_by_name *b = opaque;

	/* A name is on one image at most (it moves with a new pull); an old
	 * image's JSON without a names list gets its source as its name. */
	for (size_t i = 0; i < m->n_names; i++)
		if (strcmp(m->names[i], b->name) == 0 && cache_has_image(b->cache, m->digest))
			snprintf(b->digest, sizeof(b->digest), "%s", m->digest);
	return 0;
}

/*
 * --pull missing or never: a remote image the cache has under its name is
 * used as it is, without a request. 1 when it is (the pull is done), 0 when
 * the pull must run, negative for never and nothing cached.
 */
static int start__pull_cached(struct start *s, const char *image, struct pupa_err *err)
{
	struct start_pull *sp = &s->pull;
	struct start_by_name b = { .cache = &s->cache };
	char name[4400];

	if (s->o->pull_policy == START_PULL_ALWAYS || !start__remote_name(image, name, sizeof(name)))
		return 0;
	b.name = name;
	if (cache_list(&s->cache, start__by_name, &b, err) < 0)
		return -1;
	if (!b.digest[0] && s->o->pull_policy == START_PULL_NEVER)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s is not in the cache, and --pull never asks no one: "
			       "pull it first ('pupa pull %s')", name, image);
	if (!b.digest[0])
		return 0;
	memset(&sp->res, 0, sizeof(sp->res));
	snprintf(sp->res.digest, sizeof(sp->res.digest), "%s", b.digest);
	cache_path(&s->cache, sp->res.image_path, sizeof(sp->res.image_path), "images/%s.ext4",
		   b.digest);
	sp->res.cached = 1;
	for (int i = 0; i < 2; i++) {
		sp->last[i].stage = i ? CONTAINER_STATUS_EXTRACTING : CONTAINER_STATUS_DOWNLOADING;
		sp->last[i].done = 1;
		sp->seen[i] = 1;
	}
	sp->done = 1;
	if (s->o->verbose)
		fprintf(stderr, "pupa: --pull %s: using the cached %s (sha256:%.12s)\n",
			s->o->pull_policy == START_PULL_NEVER ? "never" : "missing", name, b.digest);
	return 1;
}

static int start__pull_begin(struct start *s, struct pupa_err *err)
{
	struct start_pull *sp = &s->pull;
	const char *image = s->o->image ? s->o->image : s->dd.default_image;
	int ret;

	pthread_mutex_init(&sp->lock, NULL);
	sp->cache = &s->cache;
	if ((ret = start__pull_cached(s, image, err)) != 0)
		return ret < 0 ? ret : 0;
	sp->o = s->o->pull;
	sp->o.image = image;
	sp->o.progress = start__pull_progress;
	sp->o.opaque = sp;
	sp->o.interrupted = &sp->abort;
	if (pthread_create(&sp->thread, NULL, start__pull_thread, sp))
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot start a thread");
	s->pull_started = 1;
	return 0;
}

/* Show the pull's latest numbers for stage i; returns 1 once it is done. */
static int start__pull_show(struct start *s, int i)
{
	struct start_pull *sp = &s->pull;
	struct pull_progress pp;
	int seen, done;

	pthread_mutex_lock(&sp->lock);
	pp = sp->last[i];
	seen = sp->seen[i];
	done = sp->done;
	pthread_mutex_unlock(&sp->lock);
	if (seen) {
		progress_layers(s->p, pp.layer, pp.layers);
		progress_bytes(s->p, pp.bytes, pp.total, pp.rate_bps, pp.eta_s, NULL);
	}
	return (seen && pp.done) || done;
}

static int start__pull_failed(struct start *s)
{
	int failed;

	pthread_mutex_lock(&s->pull.lock);
	failed = s->pull.done && s->pull.ret < 0;
	pthread_mutex_unlock(&s->pull.lock);
	return failed;
}

/* ---- waiting in a state ------------------------------------------------------- */

enum start_wait { WAIT_OK, WAIT_SIGNAL, WAIT_VMM_GONE, WAIT_PULL_FAILED, WAIT_TIMEOUT };

/* Sleep up to ms, waking for fd (if >= 0); say why we should stop waiting. */
static enum start_wait start__tick(struct start *s, int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (*s->sig)
		return WAIT_SIGNAL;
	if (s->vmm_started && vmm_proc_reap(&s->vmm))
		return WAIT_VMM_GONE;
	if (s->pull_started && start__pull_failed(s))
		return WAIT_PULL_FAILED;
	poll(&pfd, fd >= 0 ? 1 : 0, ms);
	return WAIT_OK;
}

static int start__wait_failed(struct start *s, enum start_wait w)
{
	char why[1400];

	switch (w) {
	case WAIT_SIGNAL:
		return start__fail(s, 0, 128 + *s->sig, "interrupted by %s",
				   strsignal(*s->sig));
	case WAIT_VMM_GONE:
		vmm_proc_why(&s->vmm, why, sizeof(why));
		return start__fail(s, 0, CMD_EXIT_FAILURE, "%s", why);
	case WAIT_PULL_FAILED:
		return start__fail_err(s, s->pull.res.failed_stage, CMD_EXIT_FAILURE, &s->pull.err);
	case WAIT_TIMEOUT:
		return start__fail(s, 0, CMD_EXIT_FAILURE, "timed out");
	default:
		return CMD_EXIT_FAILURE;
	}
}

/*
 * The link to pupa-init failed. Its stream ends as pupa-vmm dies (a guest
 * that panicked, reset or was killed), so give pupa-vmm a moment to be
 * reaped: then the reason is the VMM's, not "it closed the connection".
 */
static int start__agent_failed(struct start *s, const struct pupa_err *err)
{
	char why[1400];

	for (int i = 0; i < 20 && !vmm_proc_reap(&s->vmm); i++)
		poll(NULL, 0, 50);
	if (vmm_proc_reap(&s->vmm)) {
		vmm_proc_why(&s->vmm, why, sizeof(why));
		return start__fail(s, 0, CMD_EXIT_FAILURE, "%s", why);
	}
	return start__fail_err(s, 0, CMD_EXIT_FAILURE, err);
}

/* ---- the states ----------------------------------------------------------------- */

/* A locked run folder, after removing those that killed runs left. */
static int start__rundir(struct start *s, struct pupa_err *err)
{
	rundir_reap(rundir_base());
	s->rundir_lock = rundir_create(s->rundir, sizeof(s->rundir), err);
	return s->rundir_lock < 0 ? s->rundir_lock : 0;
}

static void start__hostname(struct start *s, char *buf, size_t len)
{
	const char *x = "0123456789abcdef";
	unsigned char r[6];
	int fd;

	if (s->o->hostname) {
		snprintf(buf, len, "%s", s->o->hostname);
		return;
	}
	/* Docker's habit: a short random id. */
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t)sizeof(r))
		memset(r, 0x5a, sizeof(r));
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 6 && (size_t)(2 * i + 2) < len; i++) {
		buf[2 * i] = x[r[i] >> 4];
		buf[2 * i + 1] = x[r[i] & 15];
		buf[2 * i + 2] = '\0';
	}
}

/* --verbose: the start as pupa read its command line. */
static void start__show_plan(struct start *s, const char *hostname)
{
	const struct start_opts *o = s->o;
	static const char *const modes[] = { "volatile", "ro", "rw" };

	fprintf(stderr, "pupa: image %s, hostname %s, memory %u MiB, cpus %u, rootfs %s, "
		"workdir %s, user %s\n", o->image ? o->image : s->dd.default_image, hostname,
		o->memory_mib, o->cpus, modes[o->rootfs_mode], o->workdir ? o->workdir : "(image's)",
		o->user ? o->user : "(image's)");
	fprintf(stderr, "pupa: command");
	if (!o->argv[0])
		fprintf(stderr, " (image's)");
	for (char **a = o->argv; *a; a++)
		fprintf(stderr, " '%s'", *a);
	fprintf(stderr, "\n");
	/* Names only: values may be secrets, and this goes to logs. */
	for (unsigned int i = 0; i < o->nenv; i++)
		fprintf(stderr, "pupa: env %.*s\n", (int)strcspn(o->env[i], "="), o->env[i]);
}

static int start__launch(struct start *s, struct pupa_err *err)
{
	char uds[4300];
	struct vmm_spec spec = {
		.vmm = s->dd.vmm,
		.kernel = s->o->kernel ? s->o->kernel : s->dd.kernel,
		.initrd = s->o->initrd ? s->o->initrd : s->dd.initrd,
		.rundir = s->rundir,
		.memory_mib = s->o->memory_mib,
		.cpus = s->o->cpus,
		.agent_port = START_AGENT_PORT,
		.restore = s->restoring ? s->snap.path : NULL,
		.snapshot_key = s->snap_on ? s->snap.key : NULL,
		.verbose = s->o->verbose,
		.net = &s->o->net,
		.vol = &s->o->vol,
	};
	int ret;

	snprintf(uds, sizeof(uds), "%s/vsock", s->rundir);
	if (!s->agent_listening) {
		ret = agent_link_listen(&s->agent, uds, START_AGENT_PORT, err);
		if (ret < 0)
			return ret;
		s->agent_listening = 1;
	}
	s->agent.cancel = s->sig;	/* Ctrl-C ends any wait for the guest */
	ret = vmm_proc_spawn(&s->vmm, &spec, err);
	if (ret == 0)
		s->vmm_started = 1;
	return ret;
}

static int start__vmm_force_stop(void *opaque)
{
	struct start *s = opaque;

	vmm_proc_stop(&s->vmm, 0);
	return 1;
}

static int start__vmm_gone(void *opaque)
{
	struct start *s = opaque;

	return vmm_proc_reap(&s->vmm);
}

static void start__ready(void *opaque)
{
	struct start *s = opaque;

	start__enter(s, CONTAINER_STATUS_READY);
	progress_leave(s->p);
	if (s->status_out)
		fflush(s->status_out);
	fflush(stdout);
}

static void start__timings(struct start *s)
{
	fprintf(stderr, "pupa: timings:");
	for (int st = CONTAINER_STATUS_TRANSIENT; st <= CONTAINER_STATUS_READY; st++) {
		double end = st < CONTAINER_STATUS_READY && s->t_state[st + 1] ? s->t_state[st + 1] : s->t_end;

		if (s->t_state[st])
			fprintf(stderr, " %s %.3fs", pupa_enum_human(PUPA_CONTAINER_STATUS, (uint32_t)st),
				end - s->t_state[st]);
	}
	fprintf(stderr, " total %.3fs stop %.3fs", s->t_end - s->t_state[CONTAINER_STATUS_TRANSIENT],
		s->t_stopped - s->t_end);
	if (s->restoring)
		fprintf(stderr, " (StartingVm: resumed from a snapshot; LaunchingGuest: restore %.3fs)",
			s->vmm.restore_s);
	else if (s->t_snapshot > 0)
		fprintf(stderr, " (StartingVm: booted; making the snapshot %.3fs)", s->t_snapshot);
	fputc('\n', stderr);
}

/* Leave nothing behind: the VM, the pull thread, sockets, the run folder. */
static void start__cleanup(struct start *s, int failed)
{
	/* The pull first: a download cut short is kept for resuming, not
	 * finished while the VM stops. */
	if (s->pull_started)
		s->pull.abort = 1;
	/* Once the command has ended, nothing in the VM is worth waiting
	 * for: its disk is the read-only cache, a volatile overlay, or a
	 * private copy about to be removed. */
	if (s->vmm_started && s->exited)
		vmm_proc_kill(&s->vmm);
	else if (s->vmm_started)
		vmm_proc_stop(&s->vmm, 2000);
	if (s->pull_started)
		pthread_join(s->pull.thread, NULL);
	if (s->agent_listening)
		agent_link_close(&s->agent);
	rootfs_disk_release(&s->disk);
	if (s->snap_on)
		snapshot_abandon(&s->snap);	/* one cut short: its file and lock */
	if (s->image_hold >= 0)
		close(s->image_hold);
	if (failed && s->o->keep_failed && s->rundir[0]) {
		rundir_keep(s->rundir);
		fprintf(stderr, "pupa: kept the console log and run folder: %s\n", s->rundir);
	} else {
		rundir_remove(s->rundir);
	}
	if (s->rundir_lock >= 0)
		close(s->rundir_lock);
	s->rundir_lock = -1;
}

/* An OCI image's config, kept in the cache beside its image; none for a tarball. */
static int start__image_config(struct start *s, struct oci_config *cfg, int *have,
			       struct pupa_err *err)
{
	struct cache_meta m;
	char *doc, why[512];
	size_t len;
	int ret;

	*have = 0;
	if (cache_meta_get(&s->cache, s->pull.res.digest, &m) < 0 || !m.config_digest[0])
		return 0;
	if (cache_blob_get(&s->cache, m.config_digest, OCI_DOC_MAX, &doc, &len, err) < 0)
		return -1;
	ret = oci_config_parse(doc, len, cfg, why, sizeof(why));
	free(doc);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "the cached image %.12s: %s",
			       m.digest, why);
	*have = 1;
	return 0;
}

/* ---- snapshots (snapshot.h) ------------------------------------------------------- */

static void start__snapshot_plan(struct start *s)
{
	struct snapshot_inputs in = {
		.vmm = s->dd.vmm, .kernel = s->o->kernel ? s->o->kernel : s->dd.kernel,
		.initrd = s->o->initrd ? s->o->initrd : s->dd.initrd,
		.memory_mib = s->o->memory_mib, .cpus = s->o->cpus, .net = s->o->net.mode != NET_MODE_NONE,
	};
	struct pupa_err err = { 0 };

	if (s->o->no_snapshot)
		return;
	if (snapshot_init(&s->snap, &s->cache, &in, &err) < 0) {
		if (s->o->verbose)
			fprintf(stderr, "pupa: no snapshot: %s\n", err.msg);
		return;
	}
	s->snap_on = 1;
	s->restoring = snapshot_exists(&s->snap);
	if (s->o->verbose)
		fprintf(stderr, "pupa: snapshot %s: %s\n", s->snap.path,
			s->restoring ? "resuming it" : "none yet, booting");
}

/*
 * pupa-vmm refused the snapshot (BadConfig naming it: damaged, cut short,
 * made by another build or machine). The file goes; this start boots, and
 * makes a new one. A pupa-vmm that died otherwise fails the start.
 * 1 when this wait ended so and pupa-vmm runs again, 0 when it ended
 * otherwise, negative when the new one cannot start.
 */
static int start__snapshot_refused(struct start *s, enum start_wait w, struct pupa_err *err)
{
	char why[1400];

	if (w != WAIT_VMM_GONE || !s->restoring || !vmm_proc_refused_snapshot(&s->vmm))
		return 0;
	vmm_proc_why(&s->vmm, why, sizeof(why));
	if (s->o->verbose)
		fprintf(stderr, "pupa: the snapshot was refused, booting instead: %s\n", why);
	snapshot_discard(&s->snap);
	s->restoring = 0;
	s->vmm_started = 0;
	return start__launch(s, err) < 0 ? -1 : 1;
}

/*
 * The first start for a key: with pupa-init between its HELLO and any
 * container, FREEZE it, have pupa-vmm write the snapshot, publish it, and
 * take pupa-init's new HELLO. A snapshot that cannot be made costs this
 * start nothing but the attempt; another start making it meanwhile, none.
 */
static int start__snapshot_make(struct start *s, struct pupa_err *err)
{
	struct pupa_err why = { 0 };
	double t0 = start__now();
	int ret = snapshot_begin(&s->snap, &why);

	if (ret <= 0) {
		if (ret < 0 && s->o->verbose)
			fprintf(stderr, "pupa: no snapshot made: %s\n", why.msg);
		return 0;
	}
	ret = agent_link_freeze(&s->agent, err);
	if (ret < 0) {
		snapshot_abandon(&s->snap);
		return ret;	/* pupa-init is not where it should be: the start fails */
	}
	if (vmm_proc_snapshot(&s->vmm, s->snap.fd, &why) < 0 || snapshot_publish(&s->snap, &why) < 0) {
		snapshot_abandon(&s->snap);
		if (s->o->verbose)
			fprintf(stderr, "pupa: no snapshot made: %s\n", why.msg);
	}
	s->t_snapshot = start__now() - t0;
	return 1;
}

/*
 * Wait for pupa-init's HELLO; a restored VM that ends first was refused.
 * After a FREEZE, a connection that ends before its HELLO is one pupa-init
 * gave up on while the VM stood still: it connects again.
 */
/*
 * The console's last lines (kernel timestamps dropped), " | " between
 * them: what a guest that never said hello was doing. The run folder goes
 * with the start, so the reader gets the lines, not the file's name.
 */
static void start__console_tail(struct start *s, char *buf, size_t len)
{
	char lines[START_CONSOLE_TAIL][256], line[1024];
	unsigned int n = 0;
	FILE *f = fopen(s->vmm.console, "re");
	size_t used = 0;

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *text = line, *close;

		line[strcspn(line, "\r\n")] = '\0';
		if (text[0] == '[' && (close = strchr(text, ']')))
			text = close + 1 + (close[1] == ' ');
		if (text[0]) {
			char *to = lines[n++ % START_CONSOLE_TAIL];
			size_t k = strnlen(text, sizeof(lines[0]) - 1);

			memcpy(to, text, k);
			to[k] = '\0';
		}
	}
	fclose(f);
	for (unsigned int i = n > START_CONSOLE_TAIL ? n - START_CONSOLE_TAIL : 0; i < n; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", used ? " | " : "",
				 lines[i % START_CONSOLE_TAIL]);

		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
}

/* No HELLO by the boot deadline, or by --timeout's if that comes first. */
static int start__hello_late(struct start *s, int timed_out)
{
	char tail[START_CONSOLE_TAIL * 260];

	start__console_tail(s, tail, sizeof(tail));
	if (timed_out)
		return start__fail(s, 0, 124, "--timeout %u s passed before pupa-init said hello; "
				   "the console: %s%s%s%s", s->o->timeout_s, tail[0] ? tail : "(empty)",
				   s->o->keep_failed ? " (" : "", s->o->keep_failed ? s->vmm.console : "",
				   s->o->keep_failed ? ")" : "");
	return start__fail(s, 0, CMD_EXIT_FAILURE, "pupa-init did not say hello within %d s; "
			   "the console: %s%s%s%s", START_BOOT_TIMEOUT_MS / 1000,
			   tail[0] ? tail : "(empty)", s->o->keep_failed ? " (" : "",
			   s->o->keep_failed ? s->vmm.console : "", s->o->keep_failed ? ")" : "");
}

static double start__hello_deadline(struct start *s, int *by_timeout)
{
	double boot = start__now() + START_BOOT_TIMEOUT_MS / 1000.0;
	double mine = s->t_state[CONTAINER_STATUS_TRANSIENT] + s->o->timeout_s;

	*by_timeout = s->o->timeout_s && mine < boot;
	return *by_timeout ? mine : boot;
}

static int start__wait_hello(struct start *s, int after_freeze, struct pupa_err *err)
{
	int by_timeout;
	double deadline = start__hello_deadline(s, &by_timeout);
	enum start_wait w;
	int ret;

again:
	for (;;) {
		struct pollfd pfd = { .fd = agent_link_hello_fd(&s->agent), .events = POLLIN };

		if (poll(&pfd, 1, 0) == 1)
			break;
		if (start__now() > deadline)
			return start__hello_late(s, by_timeout);
		w = start__tick(s, pfd.fd, 20);
		if ((ret = start__snapshot_refused(s, w, err)) < 0)
			return start__fail_err(s, 0, CMD_EXIT_FAILURE, err);
		if (ret > 0) {
			deadline = start__hello_deadline(s, &by_timeout);
			continue;
		}
		if (w != WAIT_OK)
			return start__wait_failed(s, w);
	}
	if (agent_link_hello(&s->agent, err) < 0) {
		if (*s->sig)
			return start__wait_failed(s, WAIT_SIGNAL);
		if (!after_freeze || start__now() > deadline)
			return start__agent_failed(s, err);
		agent_link_drop(&s->agent);
		memset(err, 0, sizeof(*err));
		goto again;
	}
	return 0;
}

static int start__run(struct start *s)
{
	struct pupa_err err = { 0 };
	struct agent_command cmd;
	struct agent_hooks hooks;
	struct oci_config image;
	struct run_config rc;
	struct run_request req = { .entrypoint = s->o->entrypoint, .command = s->o->argv,
				   .env = s->o->env, .workdir = s->o->workdir, .user = s->o->user };
	int have_image = 0;
	char hostname[256];
	enum start_wait w;
	int ret, code;

	/* kTransient: plan, and start the pull at once. */
	start__enter(s, CONTAINER_STATUS_TRANSIENT);
	if (pull_platform_runnable(s->o->pull.platform, "--platform", &err) < 0 ||
	    volume_opts_resolve(&s->o->vol, &err) < 0 || datadir_find(&s->dd, &err) < 0 ||
	    cache_open(&s->cache, s->o->cache_dir, &err) < 0 || start__rundir(s, &err) < 0)
		return start__fail_err(s, 0, CMD_EXIT_FAILURE, &err);
	if (s->o->verbose)
		fprintf(stderr, "pupa: run folder %s, kernel %s, initramfs %s\n", s->rundir,
			s->o->kernel ? s->o->kernel : s->dd.kernel,
			s->o->initrd ? s->o->initrd : s->dd.initrd);
	if (start__pull_begin(s, &err) < 0)
		return start__fail_err(s, 0, CMD_EXIT_FAILURE, &err);
	start__hostname(s, hostname, sizeof(hostname));
	if (s->o->verbose)
		start__show_plan(s, hostname);
	start__snapshot_plan(s);

	/* kLaunchingGuest: pupa-vmm runs and answers on its control socket. */
	start__enter(s, CONTAINER_STATUS_LAUNCHING_GUEST);
	if (start__launch(s, &err) < 0)
		return start__fail_err(s, 0, CMD_EXIT_FAILURE, &err);
	while (!vmm_proc_control_ready(&s->vmm)) {
		w = start__tick(s, -1, 5);
		if ((ret = start__snapshot_refused(s, w, &err)) < 0)
			return start__fail_err(s, 0, CMD_EXIT_FAILURE, &err);
		if (ret > 0)
			continue;
		if (w != WAIT_OK)
			return start__wait_failed(s, w);
	}

	/* kStartingVm: the kernel boots (or the snapshot resumes) until
	 * pupa-init says hello; a first boot makes the snapshot there. */
	start__enter(s, CONTAINER_STATUS_STARTING_VM);
	if ((ret = start__wait_hello(s, s->restoring, &err)) != 0)
		return ret;
	if (s->snap_on && !s->restoring) {
		ret = start__snapshot_make(s, &err);
		if (ret < 0)
			return start__agent_failed(s, &err);
		if (ret > 0 && (ret = start__wait_hello(s, 1, &err)) != 0)
			return ret;
	}

	/* kDownloading, then kExtracting: shown from the pull's own numbers. */
	for (int i = 0; i < 2; i++) {
		start__enter(s, i ? CONTAINER_STATUS_EXTRACTING : CONTAINER_STATUS_DOWNLOADING);
		while (!start__pull_show(s, i)) {
			w = start__tick(s, -1, 100);
			if (w != WAIT_OK)
				return start__wait_failed(s, w);
		}
		if (start__pull_failed(s))
			return start__wait_failed(s, WAIT_PULL_FAILED);
	}
	if (s->pull_started)	/* none when --pull found it cached */
		pthread_join(s->pull.thread, NULL);
	s->pull_started = 0;
	if (s->pull.ret < 0)
		return start__fail_err(s, s->pull.res.failed_stage, CMD_EXIT_FAILURE, &s->pull.err);
	/* Another platform's image pulls (as Docker's does), but cannot boot here. */
	if (pull_check_runnable(&s->cache, s->pull.res.digest, s->pull.o.image, &err) < 0)
		return start__fail_err(s, 0, CMD_EXIT_FAILURE, &err);

	/* kStarting: the disk in, the command on its way. */
	start__enter(s, CONTAINER_STATUS_STARTING);
	s->image_hold = cache_hold(&s->cache, s->pull.res.digest, &err);
	if (s->image_hold < 0 ||
	    rootfs_disk_prepare(&s->disk, s->o->rootfs_mode, s->pull.res.image_path, s->rundir, &err) < 0)
		return *s->sig ? start__wait_failed(s, WAIT_SIGNAL) :
				 start__fail_err(s, 0, CMD_EXIT_FAILURE, &err);
	if (vmm_proc_attach(&s->vmm, "rootfs", s->disk.path, s->disk.block_mode, &err) < 0 ||
	    agent_link_attach(&s->agent, "rootfs", s->disk.mount_mode, &err) < 0)
		return *s->sig ? start__wait_failed(s, WAIT_SIGNAL) : start__agent_failed(s, &err);

	if (start__image_config(s, &image, &have_image, &err) < 0 ||
	    run_config_merge(have_image ? &image : NULL, &req, &rc, &err) < 0) {
		if (have_image)
			oci_config_free(&image);
		return start__fail_err(s, 0, CMD_EXIT_FAILURE, &err);
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = rc.argv;
	cmd.env = rc.env;
	cmd.user = rc.user;
	cmd.cwd = rc.cwd;
	cmd.hostname = hostname;
	cmd.net = &s->o->net;
	cmd.vol = &s->o->vol;
	cmd.tty = s->o->tty;
	cmd.interactive = s->o->interactive;
	memset(&hooks, 0, sizeof(hooks));
	hooks.started = start__ready;
	hooks.vmm_gone = start__vmm_gone;
	hooks.signal = s->sig;
	hooks.winch = &s->winch;
	hooks.force_stop = start__vmm_force_stop;
	hooks.opaque = s;
	if (s->o->timeout_s)
		hooks.deadline_ms = (long)((s->t_state[CONTAINER_STATUS_TRANSIENT] + s->o->timeout_s) * 1000);
	ret = agent_link_run(&s->agent, &cmd, &hooks, &code, &err);
	run_config_free(&rc);
	if (have_image)
		oci_config_free(&image);
	switch (ret) {
	case AGENT_RUN_EXITED:
		s->exited = 1;
		return code;
	case AGENT_RUN_NOT_STARTED:
		return start__fail(s, 0, code, "%s", err.msg);
	case AGENT_RUN_TIMEOUT:
		return start__fail(s, 0, 124, "--timeout %u s passed; the container was stopped",
				   s->o->timeout_s);
	case AGENT_RUN_INTERRUPTED:
		return start__fail(s, 0, code, "interrupted");
	default:
		return start__agent_failed(s, &err);
	}
}

int cmd_start(int argc, char **argv)
{
	struct start_opts o;
	struct pupa_err err = { 0 };
	struct start s;
	struct sigaction sa = { .sa_handler = start__on_winch };
	int status, ret;

	start_options_init(&o);
	ret = start_options_parse(argc, argv, &o, &err);
	if (ret != 0) {
		start_options_free(&o);
		return ret == 1 ? 0 : ret == 2 ? CMD_EXIT_FAILURE : cmd_fail(&err);
	}

	memset(&s, 0, sizeof(s));
	s.o = &o;
	s.image_hold = -1;
	s.rundir_lock = -1;
	s.disk.copy_fd = -1;
	if (o.status_fd >= 0) {
		s.status_out = fdopen(o.status_fd, "w");
		s.p = progress_new(PROGRESS_JSON, s.status_out);
	} else {
		s.p = progress_new(o.quiet ? PROGRESS_NONE : (enum progress_mode)o.progress_mode, stdout);
	}
	cmd_catch_signals();
	s.sig = cmd_signal_flag();
	start_self = &s;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, NULL);

	status = start__run(&s);
	s.t_end = start__now();
	if (!s.t_state[CONTAINER_STATUS_READY])
		progress_leave(s.p);
	start__cleanup(&s, s.state == CONTAINER_STATUS_FAILED);
	s.t_stopped = start__now();
	if (o.timings)
		start__timings(&s);
	if (s.status_out)
		progress_exit(s.p, status);
	progress_free(s.p);
	if (s.status_out)
		fclose(s.status_out);
	start_self = NULL;
	start_options_free(&o);
	return status;
}
