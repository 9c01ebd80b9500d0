/*
 * pull_image: plan (cached? resumable?), then run the two threads and watch
 * them from the caller's thread, which reports progress at most every
 * 100 ms and notices interrupts. See pull.h for the shape.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "docker_archive.h"
#include "ext4_image.h"
#include "fetch.h"
#include "pull.h"
#include "oci.h"
#include "pull_oci.h"
#include "reference.h"
#include "source.h"

#define PULL_CHUNK (1u << 20)
/* Images bounded below this start small (see pull__image_bound). */
#define PULL_SMALL_IMAGE (4ull << 30)

struct pull_run {
	const struct cache *cache;
	const struct pull_options *o;
	struct source src;
	char key[DIGEST_HEX_LEN + 1];
	struct cache_index old;		/* what the index said before */
	int have_old;			/* ... and its image is there */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int tee_fd;			/* partial file, or the local source */
	uint64_t written;		/* bytes in tee_fd, hashed */
	uint64_t consumed;		/* bytes handed to libarchive */
	uint64_t total;
	uint64_t resumed_at;
	int ready;			/* a body is coming: start extracting */
	int produced;			/* producer finished (check prod_ret) */
	int extracted;			/* extractor finished (check ext_ret) */
	int cancel;
	int prod_ret, ext_ret;
	int ext_first;			/* the extractor failed on its own */
	int main_cancel;		/* the caller's thread stopped everything */
	struct pupa_err prod_err, ext_err;

	struct digest *digest;
	struct fetch_response resp;
	struct ext4_image *img;
	struct unpack_stats stats;
	unsigned char *buf;		/* the extractor's read buffer */
};

void pull_options_default(struct pull_options *o)
{
	memset(o, 0, sizeof(*o));
	unpack_limits_default(&o->limits);
	o->retries = 5;
	o->stall_s = 30;
}

static double pull__now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pull__signal(struct pull_run *r)
{
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* ---- producer --------------------------------------------------------- */

static int pull__tee(void *opaque, const void *buf, size_t len)
{
	struct pull_run *r = opaque;
	const char *p = buf;
	size_t left = len;

	while (left) {
		ssize_t n = write(r->tee_fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			char path[4200];

			cache_path(r->cache, path, sizeof(path), "partial/%s", r->key);
			if (e == ENOSPC || e == EDQUOT)
				mgr_err(&r->prod_err, GUEST_MANAGER_ERR_NO_STORAGE,
					"writing the download to %s: %s: persistent storage could "
					"not be allocated; free space or choose another --cache-dir",
					path, strerror(e));
			else
				mgr_err(&r->prod_err, GUEST_MANAGER_ERR_START_FAILURE,
					"writing the download to %s: %s", path, strerror(e));
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	digest_update(r->digest, buf, len);
	pthread_mutex_lock(&r->lock);
	r->written += len;
	pull__signal(r);
	return 0;
}

static void pull__headers(void *opaque, uint64_t total)
{
	struct pull_run *r = opaque;
	const char *validator = r->resp.etag[0] ? r->resp.etag : r->resp.last_modified;

	/* Recorded before the first byte lands, so even a SIGKILL leaves a
	 * partial file that can be resumed safely (If-Range). */
	if (!r->resumed_at)
		cache_partial_put(r->cache, r->key, r->src.canonical, validator, &r->prod_err);
	pthread_mutex_lock(&r->lock);
	r->total = total;
	r->ready = 1;
	pull__signal(r);
}

static int pull__cancelled(void *opaque)
{
	struct pull_run *r = opaque;
	int c;

	pthread_mutex_lock(&r->lock);
	c = r->cancel;
	pthread_mutex_unlock(&r->lock);
	return c;
}

/* Hash what an earlier run left, so the digest covers every byte. */
static int pull__replay_partial(struct pull_run *r)
{
	unsigned char *buf = malloc(PULL_CHUNK);
	uint64_t off = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(r->tee_fd, buf, PULL_CHUNK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : 0;
		}
		digest_update(r->digest, buf, (size_t)n);
		off += (uint64_t)n;
	}
}

static int pull__produce_http(struct pull_run *r)
{
	struct fetch_sink sink = { .data = pull__tee, .headers = pull__headers,
				   .cancelled = pull__cancelled, .opaque = r,
				   .cancel_opaque = r };
	struct fetch_request req = {
		.url = r->src.canonical,
		.retries = r->o->retries,
		.stall_s = r->o->stall_s,
	};
	char validator[300];
	struct stat st;

	if (r->resumed_at) {
		cache_partial_get(r->cache, r->key, validator, sizeof(validator));
		req.offset = r->resumed_at;
		req.if_range = validator;
		if (pull__replay_partial(r) < 0)
			return mgr_err(&r->prod_err, GUEST_MANAGER_ERR_START_FAILURE,
				       "reading the partial download: %s", strerror(errno));
	} else if (r->have_old) {
		req.etag = r->old.etag;
		req.last_modified = r->old.last_modified;
	}
	if (fstat(r->tee_fd, &st) == 0 && (uint64_t)st.st_size != r->resumed_at)
		return mgr_err(&r->prod_err, GUEST_MANAGER_ERR_START_FAILURE,
			       "the partial download changed under us");
	return fetch_run(&req, &sink, &r->resp, &r->prod_err);
}

static int pull__produce_file(struct pull_run *r)
{
	unsigned char *buf = malloc(PULL_CHUNK);
	int ret = 0;

	if (!buf)
		return mgr_err(&r->prod_err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	pthread_mutex_lock(&r->lock);
	r->total = r->src.size;
	r->ready = 1;
	pull__signal(r);
	for (;;) {
		ssize_t n = read(r->tee_fd, buf, PULL_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = mgr_err(&r->prod_err, GUEST_MANAGER_ERR_START_FAILURE,
				      "reading %s: %s", r->src.canonical, strerror(errno));
			break;
		}
		if (n == 0 || pull__cancelled(r))
			break;
		digest_update(r->digest, buf, (size_t)n);
		pthread_mutex_lock(&r->lock);
		r->written += (uint64_t)n;
		pull__signal(r);
	}
	free(buf);
	if (ret == 0 && r->written != r->src.size)
		ret = mgr_err(&r->prod_err, GUEST_MANAGER_ERR_START_FAILURE,
			      "%s changed size while being read", r->src.canonical);
	return ret;
}

static void *pull__producer(void *opaque)
{
	struct pull_run *r = opaque;
	int ret = r->src.kind == SOURCE_HTTP ? pull__produce_http(r) : pull__produce_file(r);

	pthread_mutex_lock(&r->lock);
	r->prod_ret = ret;
	r->produced = 1;
	pull__signal(r);
	return NULL;
}

/* ---- extractor -------------------------------------------------------- */

/* libarchive's reader: the tee file, never past what the producer wrote. */
static ssize_t pull__read(void *opaque, const void **out)
{
	struct pull_run *r = opaque;
	uint64_t avail;
	ssize_t n;

	pthread_mutex_lock(&r->lock);
	while (!r->cancel && r->written == r->consumed && !r->produced)
		pthread_cond_wait(&r->cond, &r->lock);
	avail = r->written - r->consumed;
	if (r->cancel || (r->produced && r->prod_ret < 0)) {
		pthread_mutex_unlock(&r->lock);
		mgr_err(&r->ext_err, GUEST_MANAGER_ERR_START_FAILURE, "the download stopped");
		return -1;
	}
	pthread_mutex_unlock(&r->lock);
	if (avail == 0)
		return 0;
	if (avail > PULL_CHUNK)
		avail = PULL_CHUNK;
	do
		n = pread(r->tee_fd, r->buf, avail, (off_t)r->consumed);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		mgr_err(&r->ext_err, GUEST_MANAGER_ERR_START_FAILURE, "reading back the download: %s",
			n < 0 ? strerror(errno) : "unexpected end");
		return -1;
	}
	pthread_mutex_lock(&r->lock);
	r->consumed += (uint64_t)n;
	pthread_mutex_unlock(&r->lock);
	*out = r->buf;
	return n;
}

static void pull__cancel(void *opaque)
{
	struct pull_run *r = opaque;

	pthread_mutex_lock(&r->lock);
	r->cancel = 1;
	pull__signal(r);
}

static void *pull__extractor(void *opaque)
{
	struct pull_run *r = opaque;
	struct unpack_source src = { .read = pull__read, .cancel = pull__cancel, .opaque = r };
	int ret = unpack_archive(r->img, &src, &r->o->limits, &r->stats, &r->ext_err);

	pthread_mutex_lock(&r->lock);
	r->ext_ret = ret;
	r->extracted = 1;
	if (ret < 0) {
		r->ext_first = !(r->produced && r->prod_ret < 0) && !r->main_cancel;
		r->cancel = 1;	/* no use downloading the rest */
	}
	pull__signal(r);
	return NULL;
}

/* ---- the caller's thread ---------------------------------------------- */

struct pull_meter {
	double t0, last_t;
	uint64_t b0, last_b;
	double rate;
};

static void pull__report(const struct pull_options *o, enum container_status stage,
			 uint64_t bytes, uint64_t total, struct pull_meter *m, int done,
			 const char *note)
{
	struct pull_progress p = { .stage = stage, .bytes = bytes, .total = total,
				   .done = done, .note = note, .eta_s = -1 };
	double now = pull__now();

	if (m) {
		/* Rate over the last second or so, smoothed. */
		if (now - m->last_t >= 0.25) {
			double inst = (double)(bytes - m->last_b) / (now - m->last_t);

			m->rate = m->rate ? 0.7 * m->rate + 0.3 * inst : inst;
			m->last_t = now;
			m->last_b = bytes;
		}
		if (done && now > m->t0)
			m->rate = (double)(bytes - m->b0) / (now - m->t0);
		p.rate_bps = m->rate;
		if (total && m->rate > 0 && bytes <= total)
			p.eta_s = (double)(total - bytes) / m->rate;
	}
	if (o->progress)
		o->progress(o->opaque, &p);
}

static void pull__meter_start(struct pull_meter *m, uint64_t bytes)
{
	m->t0 = m->last_t = pull__now();
	m->b0 = m->last_b = bytes;
	m->rate = 0;
}

/* Both stages at once, for an image that needed no work. */
static void pull__report_cached(const struct pull_options *o, uint64_t bytes, const char *note)
{
	pull__report(o, CONTAINER_STATUS_DOWNLOADING, bytes, bytes, NULL, 1, note);
	pull__report(o, CONTAINER_STATUS_EXTRACTING, bytes, bytes, NULL, 1, note);
}

void pull_wait_tick(pthread_cond_t *cond, pthread_mutex_t *lock)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cond, lock, &ts);
}

static int pull__interrupted(const struct pull_options *o)
{
	return o->interrupted && *o->interrupted;
}

static int pull__open_tee(struct pull_run *r, struct pupa_err *err)
{
	char path[4200];
	struct stat st;
	char validator[300];

	if (r->src.kind != SOURCE_HTTP) {
		r->tee_fd = open(r->src.path, O_RDONLY | O_CLOEXEC);
		if (r->tee_fd < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "cannot open %s: %s",
				       r->src.path, strerror(errno));
		return 0;
	}
	cache_path(r->cache, path, sizeof(path), "partial/%s", r->key);
	r->tee_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (r->tee_fd < 0)
		return mgr_err(err, errno == ENOSPC ? GUEST_MANAGER_ERR_NO_STORAGE :
			       GUEST_MANAGER_ERR_START_FAILURE, "cannot open %s: %s", path,
			       strerror(errno));
	/* Resume only what can be checked: a partial with its validator. */
	if (fstat(r->tee_fd, &st) == 0 && st.st_size > 0 &&
	    cache_partial_get(r->cache, r->key, validator, sizeof(validator)) == 0 &&
	    validator[0]) {
		r->resumed_at = (uint64_t)st.st_size;
		r->written = r->resumed_at;
	} else if (ftruncate(r->tee_fd, 0) < 0) {
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot truncate %s: %s",
			       path, strerror(errno));
	}
	return 0;
}

/*
 * How large the image must be able to grow, before anything is known of
 * the content: the size limit, or less when the archive's size is known.
 * The ratio limit bounds what it can expand to, and ext4 takes at most four
 * times a tar's bytes (a 4 KiB block for each 1 KiB header + data pair).
 * A smaller start makes mke2fs and the final resize2fs cheaper.
 */
uint64_t pull_image_bound(const struct pull_options *o, uint64_t total, uint64_t *inodes)
{
	uint64_t cap = o->limits.size + o->limits.size / 8 + (1ull << 30), expand;

	*inodes = 0;
	if (!total || total > cap / o->limits.ratio)
		return cap;
	expand = total * o->limits.ratio;
	if (expand < o->limits.ratio_after)
		expand = o->limits.ratio_after;
	/* An entry takes 512 bytes of tar at least: that many inodes. Dense
	 * inode tables make resize2fs -M keep a large image, so only small
	 * bounds are worth it; a large one starts at the cap (mke2fs's ratio
	 * gives it inodes for the entry limit). */
	*inodes = expand / 512 + 65536;
	expand = 4 * expand + (64ull << 20);
	if (expand > PULL_SMALL_IMAGE) {
		*inodes = 0;
		return cap;
	}
	return expand;
}

/* Stop both threads and wait for them. */
static void pull__stop(struct pull_run *r, pthread_t prod, int have_ext, pthread_t ext)
{
	pthread_mutex_lock(&r->lock);
	r->cancel = 1;
	pull__signal(r);
	pthread_join(prod, NULL);
	if (have_ext)
		pthread_join(ext, NULL);
}

/* What one attempt came to, when it did not fail. */
enum pull_attempt {
	PULL_ATTEMPT_BUILT = 0,		/* the image is built in tmp */
	PULL_ATTEMPT_CURRENT = 1,	/* the cached image is still current (304) */
	PULL_ATTEMPT_INTERRUPTED = 2,	/* within the attempt only: turned into an error */
};

/*
 * One attempt. Returns PULL_ATTEMPT_BUILT or PULL_ATTEMPT_CURRENT, -EAGAIN
 * to start over, or an error.
 */
static int pull__attempt(struct pull_run *r, const char *tmp, struct pupa_err *err)
{
	const struct pull_options *o = r->o;
	struct pull_meter dl, ex;
	pthread_t prod, ext;
	int have_ext = 0, ret = 0, dl_done = 0;
	char note[96] = "";

	ret = pull__open_tee(r, err);
	if (ret < 0)
		return ret;
	if (r->resumed_at)
		snprintf(note, sizeof(note), "resuming at %" PRIu64 " bytes", r->resumed_at);
	r->digest = digest_new();
	r->buf = malloc(PULL_CHUNK);
	if (!r->digest || !r->buf) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
		goto out;
	}
	pull__meter_start(&dl, r->written);
	if (pthread_create(&prod, NULL, pull__producer, r)) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot start a thread");
		goto out;
	}
	pull__report(o, CONTAINER_STATUS_DOWNLOADING, r->written, 0, &dl, 0, note[0] ? note : NULL);

	/* Until a body is on its way, there is nothing to extract. */
	pthread_mutex_lock(&r->lock);
	while (!r->ready && !r->produced && !pull__interrupted(o))
		pull_wait_tick(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
	if (r->ready && !pull__interrupted(o)) {
		uint64_t inodes = 0;
		uint64_t size = o->image_size ? o->image_size : pull_image_bound(o, r->total, &inodes);

		ret = ext4_image_create(tmp, size, inodes, o->image_size != 0, &r->img, err);
		if (ret == 0 && pthread_create(&ext, NULL, pull__extractor, r) == 0)
			have_ext = 1;
		else if (ret == 0)
			ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot start a thread");
	}
	if (ret < 0 || !have_ext) {
		pull__stop(r, prod, 0, ext);
		if (ret == 0 && pull__interrupted(o))
			ret = PULL_ATTEMPT_INTERRUPTED;
		goto judge;
	}

	pull__meter_start(&ex, 0);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		uint64_t written = r->written, consumed = r->consumed, total = r->total;
		int produced = r->produced, extracted = r->extracted;

		if (pull__interrupted(o) || (produced && r->prod_ret < 0) || (extracted && r->ext_ret < 0)) {
			r->cancel = 1;
			r->main_cancel = 1;
			pthread_cond_broadcast(&r->cond);
			break;
		}
		pthread_mutex_unlock(&r->lock);
		if (!dl_done && produced) {
			/* The last byte arrived: Downloading ends, Extracting begins. */
			pull__report(o, CONTAINER_STATUS_DOWNLOADING, written, written, &dl, 1, NULL);
			dl_done = 1;
			pull__meter_start(&ex, consumed);
		}
		if (!dl_done)
			pull__report(o, CONTAINER_STATUS_DOWNLOADING, written, total, &dl, 0, NULL);
		else
			pull__report(o, CONTAINER_STATUS_EXTRACTING, consumed, written, &ex, 0, NULL);
		pthread_mutex_lock(&r->lock);
		if (r->produced && r->extracted)
			break;
		pull_wait_tick(&r->cond, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	pthread_join(prod, NULL);
	pthread_join(ext, NULL);
	if (pull__interrupted(o))
		ret = PULL_ATTEMPT_INTERRUPTED;
judge:
	if (ret == PULL_ATTEMPT_INTERRUPTED) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: interrupted",
			      r->src.canonical);
		r->cancel = 2;
	} else if (ret < 0) {
		/* already set */
	} else if (r->ext_first) {
		ret = pupa_err_set(err, r->ext_err.type, r->ext_err.code, "%s: %s",
				   r->src.canonical, r->ext_err.msg);
	} else if (r->prod_ret == -EAGAIN) {
		ret = -EAGAIN;
	} else if (r->prod_ret < 0) {
		ret = pupa_err_set(err, r->prod_err.type, r->prod_err.code, "%s", r->prod_err.msg);
	} else if (r->prod_ret == FETCH_NOT_MODIFIED) {
		ret = PULL_ATTEMPT_CURRENT;
	} else if (r->ext_ret < 0) {
		ret = pupa_err_set(err, r->ext_err.type, r->ext_err.code, "%s: %s",
				   r->src.canonical, r->ext_err.msg);
	} else if (!have_ext) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: no data", r->src.canonical);
	}
	if (ret == 0 && !dl_done)
		pull__report(o, CONTAINER_STATUS_DOWNLOADING, r->written, r->written, &dl, 1, NULL);
out:
	if (r->img) {
		if (ret == 0)
			ret = ext4_image_finish(r->img, err);
		else
			ext4_image_abort(r->img);
		r->img = NULL;
	}
	free(r->buf);
	r->buf = NULL;
	return ret;
}

static void pull__reset(struct pull_run *r)
{
	if (r->digest)
		digest_free(r->digest);
	r->digest = NULL;
	if (r->tee_fd >= 0)
		close(r->tee_fd);
	r->tee_fd = -1;
	r->written = r->consumed = r->total = r->resumed_at = 0;
	r->ready = r->produced = r->extracted = r->cancel = 0;
	r->ext_first = r->main_cancel = 0;
	r->prod_ret = r->ext_ret = 0;
	memset(&r->prod_err, 0, sizeof(r->prod_err));
	memset(&r->ext_err, 0, sizeof(r->ext_err));
	memset(&r->stats, 0, sizeof(r->stats));
}

/* Expected digest from --sha256, IMAGE@sha256:, or SHA256SUMS beside it. */
static int pull__expected(struct pull_run *r, char *expected, struct pupa_err *err)
{
	const struct pull_options *o = r->o;

	expected[0] = '\0';
	if (o->sha256 && digest_parse(o->sha256, expected) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--sha256 '%s': expected 64 hex digits", o->sha256);
	if (r->src.digest[0]) {
		if (expected[0] && strcmp(expected, r->src.digest) != 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--sha256 and %s name different digests", o->image);
		strcpy(expected, r->src.digest);
	}
	if (o->verify == PULL_VERIFY_CHECKSUM && !expected[0])
		return source_checksum_lookup(&r->src, expected, err);
	return 0;
}

static void pull__finish_cached(struct pull_run *r, struct pull_result *res, const char *digest,
				const char *note)
{
	struct cache_meta m;

	snprintf(res->digest, sizeof(res->digest), "%s", digest);
	res->cached = 1;
	if (cache_meta_get(r->cache, digest, &m) == 0) {
		res->compressed = m.compressed;
		res->entries = m.entries;
	}
	pull__report_cached(r->o, res->compressed, note);
}

/* A local file that is a docker save archive, not a root filesystem. */
static int pull__docker_archive(const struct cache *c, const struct pull_options *o,
				struct pull_result *res, struct pupa_err *err)
{
	struct pupa_err ignore = { 0 };
	struct source src;

	if (source_parse(o->image, &src, &ignore) < 0 || src.kind != SOURCE_FILE ||
	    !docker_archive_sniff(src.path))
		return 1;
	return pull_docker_archive(c, o, src.path, "", src.digest, src.canonical, res, err);
}

static int pull__docker_archive_ref(const struct cache *c, const struct pull_options *o,
				    struct pull_result *res, struct pupa_err *err)
{
	char source[4400], abs[PATH_MAX], ref[256];
	const char *why;

	memset(res, 0, sizeof(*res));
	if (image_layout_canonical(o->image, source, sizeof(source), abs, ref, sizeof(ref), &why) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: %s", o->image, why);
	return pull_docker_archive(c, o, abs, ref, NULL, source, res, err);
}

static int pull__any(const struct cache *c, const struct pull_options *o, struct pull_result *res,
		     struct pupa_err *err)
{
	struct pull_run *r;
	char expected[DIGEST_HEX_LEN + 1], tmp[4200] = "", got[DIGEST_HEX_LEN + 1];
	int ret, lock_fd = -1, tmp_fd = -1, waited = 0, restarts = 0;

	switch (image_kind_of(o->image)) {
	case IMAGE_TARBALL:
		ret = pull__docker_archive(c, o, res, err);
		if (ret <= 0)
			return ret;
		break;
	case IMAGE_DOCKER_ARCHIVE:
		return pull__docker_archive_ref(c, o, res, err);
	case IMAGE_SKOPEO:
		return pull_skopeo(c, o, res, err);
	case IMAGE_OCI_LAYOUT:
		return pull_oci(c, o, res, err);
	case IMAGE_OCI_ARCHIVE:
		return pull_oci_archive(c, o, res, err);
	case IMAGE_REGISTRY:
		return pull_registry(c, o, res, err);
	}
	memset(res, 0, sizeof(*res));
	res->failed_stage = CONTAINER_STATUS_DOWNLOADING;
	r = calloc(1, sizeof(*r));
	if (!r)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	r->cache = c;
	r->o = o;
	r->tee_fd = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);

	ret = source_parse(o->image, &r->src, err);
	if (ret < 0)
		goto out;
	ret = pull__expected(r, expected, err);
	if (ret < 0)
		goto out;
	/* A digest named up front and already here: no request at all. */
	if (expected[0] && cache_has_image(c, expected)) {
		pull__finish_cached(r, res, expected, "cached");
		goto done;
	}
	digest_string(r->src.canonical, r->key);
	lock_fd = cache_lock(c, r->key, &waited, err);
	if (lock_fd < 0) {
		ret = lock_fd;
		goto out;
	}
	r->have_old = cache_index_get(c, r->key, &r->old) == 0 &&
		      cache_has_image(c, r->old.digest) &&
		      (!expected[0] || strcmp(expected, r->old.digest) == 0);
	if (r->have_old && r->src.kind != SOURCE_HTTP &&
	    strcmp(r->old.etag, r->src.validator) == 0) {
		pull__finish_cached(r, res, r->old.digest, waited ? "pulled by another pupa" : "cached");
		goto done;
	}

	for (;;) {
		tmp_fd = cache_tmp_image(c, tmp, sizeof(tmp), err);
		if (tmp_fd < 0) {
			ret = tmp_fd;
			goto out;
		}
		ret = pull__attempt(r, tmp, err);
		if (ret != -EAGAIN || ++restarts > 2)
			break;
		/* The server sent the whole resource to a resume: start clean. */
		unlink(tmp);
		close(tmp_fd);
		tmp_fd = -1;
		pull__reset(r);
		cache_partial_remove(c, r->key);
	}
	if (ret == -EAGAIN)
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			      "%s: the server keeps changing the resource", r->src.canonical);
	if (ret == PULL_ATTEMPT_CURRENT) {
		cache_partial_remove(c, r->key);	/* opened for a body that never came */
		pull__finish_cached(r, res, r->old.digest, "not modified");
		ret = 0;
		goto done;
	}
	if (ret < 0) {
		res->interrupted = r->cancel == 2;
		if (r->ext_first || (r->prod_ret >= 0 && r->produced))
			res->failed_stage = CONTAINER_STATUS_EXTRACTING;
		/* Keep a partial download worth resuming; drop one that is not. */
		if (r->src.kind == SOURCE_HTTP && !res->interrupted &&
		    err->type == PUPA_GUEST_MANAGER_ERROR &&
		    err->code != GUEST_MANAGER_ERR_START_FAILURE)
			cache_partial_remove(c, r->key);
		goto out;
	}
	digest_hex(r->digest, got);
	if (expected[0] && strcmp(expected, got) != 0) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "%s: SHA-256 mismatch: expected %s, got %s; nothing was cached",
			      r->src.canonical, expected, got);
		cache_partial_remove(c, r->key);
		goto out;
	}
	{
		struct cache_meta m = { .compressed = r->written, .entries = r->stats.entries,
					.created = time(NULL) };
		struct cache_index ix;

		snprintf(m.digest, sizeof(m.digest), "%s", got);
		snprintf(m.source, sizeof(m.source), "%s", r->src.canonical);
		res->failed_stage = CONTAINER_STATUS_EXTRACTING;
		ret = cache_publish(c, tmp, &m, err);
		if (ret < 0)
			goto out;
		tmp[0] = '\0';
		memset(&ix, 0, sizeof(ix));
		snprintf(ix.digest, sizeof(ix.digest), "%s", got);
		if (r->src.kind == SOURCE_HTTP) {
			snprintf(ix.etag, sizeof(ix.etag), "%s", r->resp.etag);
			snprintf(ix.last_modified, sizeof(ix.last_modified), "%s",
				 r->resp.last_modified);
		} else {
			snprintf(ix.etag, sizeof(ix.etag), "%s", r->src.validator);
		}
		cache_index_put(c, r->key, r->src.canonical, &ix, err);
		if (r->src.kind == SOURCE_HTTP)
			cache_partial_remove(c, r->key);
		snprintf(res->digest, sizeof(res->digest), "%s", got);
		res->compressed = r->written;
		res->entries = r->stats.entries;
		pull__report(o, CONTAINER_STATUS_EXTRACTING, r->written, r->written, NULL, 1, NULL);
	}
done:
	cache_path(c, res->image_path, sizeof(res->image_path), "images/%s.ext4", res->digest);
	ret = 0;
out:
	if (tmp[0])
		unlink(tmp);
	if (tmp_fd >= 0)
		close(tmp_fd);
	if (lock_fd >= 0)
		close(lock_fd);
	pull__reset(r);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
	return ret;
}

void pull_canonical(const char *image, char *out, size_t len)
{
	char canon[4400], abs[PATH_MAX], ref[256];
	struct pupa_err ignore = { 0 };
	struct image_ref iref;
	struct source src;
	const char *why;

	snprintf(out, len, "%s", image);
	switch (image_kind_of(image)) {
	case IMAGE_OCI_LAYOUT:
	case IMAGE_OCI_ARCHIVE:
	case IMAGE_DOCKER_ARCHIVE:
		if (image_layout_canonical(image, canon, sizeof(canon), abs, ref, sizeof(ref), &why) == 0)
			snprintf(out, len, "%s", canon);
		break;
	case IMAGE_TARBALL:
		if (source_parse(image, &src, &ignore) == 0)
			snprintf(out, len, "%s", src.canonical);
		break;
	case IMAGE_REGISTRY:
		if (image_ref_parse(image, &iref, &why) == 0)
			image_ref_format(&iref, out, len);
		break;
	case IMAGE_SKOPEO:
		break;
	}
}

int pull_image(const struct cache *c, const struct pull_options *o, struct pull_result *res,
	       struct pupa_err *err)
{
	char name[4400];
	int ret = pull__any(c, o, res, err);

	if (ret < 0)
		return ret;
	pull_canonical(o->image, name, sizeof(name));
	/* The image is there either way; a name that cannot be written (a full
	 * disk) leaves it listed under the source it was published with. */
	{
		struct pupa_err ignore = { 0 };

		cache_name_set(c, res->digest, name, &ignore);
	}
	return 0;
}

int pull_platform_runnable(const char *platform, const char *what, struct pupa_err *err)
{
	struct oci_platform have, host;
	char need[100];

	if (!platform || !*platform || oci_platform_parse(platform, &have) < 0)
		return 0;	/* not a platform: the pull says so */
	oci_platform_host(&host);
	if (strcmp(have.os, host.os) == 0 && strcmp(have.arch, host.arch) == 0)
		return 0;
	oci_platform_format(&host, need, sizeof(need));
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
		       "%s is for %s: pupa-vmm runs %s only (pupa pull --platform fetches "
		       "other platforms' images, but they cannot start here)", what, platform, need);
}

int pull_check_runnable(const struct cache *c, const char *digest, const char *image,
			struct pupa_err *err)
{
	struct cache_meta m;
	char what[4200];

	/* A root filesystem tarball says nothing of its platform. */
	if (cache_meta_get(c, digest, &m) < 0 || !m.platform[0])
		return 0;
	snprintf(what, sizeof(what), "image %s", image);
	return pull_platform_runnable(m.platform, what, err);
}
