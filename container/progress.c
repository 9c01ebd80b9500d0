#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "progress.h"

#define PROGRESS_TTY_INTERVAL 0.1
#define PROGRESS_PLAIN_INTERVAL 3.0
#define PROGRESS_JSON_INTERVAL 0.5

struct progress {
	enum progress_mode mode;
	FILE *out;
	enum container_status state;	/* 0 before the first */
	double entered;			/* when state began */
	double last_draw;
	int live;			/* a tty line is drawn and not ended */
	/* the last byte progress, for redraws */
	uint64_t bytes, total;
	double rate, eta;
	unsigned int layer, layers;	/* a layered image: layer i of n */
	char note[96];
	int plain_shown;		/* the percentage plain mode last printed */
};

static double progress__now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int progress_mode_parse(const char *s)
{
	static const char *const names[] = { "auto", "tty", "plain", "json", "none" };

	for (int i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

struct progress *progress_new(enum progress_mode mode, FILE *out)
{
	struct progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (mode == PROGRESS_AUTO)
		mode = isatty(fileno(out)) ? PROGRESS_TTY : PROGRESS_NONE;
	p->mode = mode;
	p->plain_shown = -1;
	p->out = out;
	return p;
}

static void progress__size(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.1f %s", d, unit[u]);
}

static int progress__has_bytes(enum container_status s)
{
	return s == CONTAINER_STATUS_DOWNLOADING || s == CONTAINER_STATUS_EXTRACTING;
}

static double progress__percent(const struct progress *p)
{
	if (!p->total)
		return -1;
	return p->bytes >= p->total ? 100.0 : 100.0 * (double)p->bytes / (double)p->total;
}

/* "Downloading  [=====>    ]  45%  12.0 MiB / 26.6 MiB  3.1 MiB/s  ETA 0:05" */
static void progress__line(const struct progress *p, int done, char *buf, size_t len)
{
	const char *name = pupa_enum_human(PUPA_CONTAINER_STATUS, p->state);
	double pct = progress__percent(p), el = progress__now() - p->entered;
	char a[32], b[32], r[32];
	int n;

	n = snprintf(buf, len, "%-14s", name ? name : "?");
	if (progress__has_bytes(p->state)) {
		char bar[23];
		int fill = pct < 0 ? 0 : (int)(pct / 5);

		if (done && pct < 0)
			fill = 20;
		bar[0] = '[';
		for (int i = 0; i < 20; i++)
			bar[1 + i] = i < fill ? '=' : (i == fill ? '>' : ' ');
		bar[21] = ']';
		bar[22] = '\0';
		progress__size(p->bytes, a, sizeof(a));
		progress__size(p->total, b, sizeof(b));
		progress__size((uint64_t)p->rate, r, sizeof(r));
		n += snprintf(buf + n, len - (size_t)n, " %s %3.0f%%  %s", bar,
			      done ? 100.0 : (pct < 0 ? 0 : pct), a);
		if (p->total)
			n += snprintf(buf + n, len - (size_t)n, " / %s", b);
		if (p->rate > 0)
			n += snprintf(buf + n, len - (size_t)n, "  %s/s", r);
		if (!done && p->eta >= 0)
			n += snprintf(buf + n, len - (size_t)n, "  ETA %d:%02d",
				      (int)p->eta / 60, (int)p->eta % 60);
	}
	if (p->layer && p->state == CONTAINER_STATUS_EXTRACTING)
		n += snprintf(buf + n, len - (size_t)n, "  layer %u of %u", p->layer, p->layers);
	if (p->note[0])
		n += snprintf(buf + n, len - (size_t)n, "  (%s)", p->note);
	if (done)
		snprintf(buf + n, len - (size_t)n, "  done %.1fs", el);
	else if (!progress__has_bytes(p->state))
		snprintf(buf + n, len - (size_t)n, "  %.1fs", el);
}

static void progress__tty_draw(struct progress *p, int done)
{
	char line[256];

	progress__line(p, done, line, sizeof(line));
	fprintf(p->out, "\r\033[K%s%s", line, done ? "\n" : "");
	fflush(p->out);
	p->live = !done;
	p->last_draw = progress__now();
}

static void progress__json(struct progress *p, const char *extra_key, const char *extra)
{
	json_t *o = json_pack("{s:s, s:s, s:i}", "type", "ContainerStatus",
			      "name", pupa_enum_name(PUPA_CONTAINER_STATUS, p->state),
			      "value", (int)p->state);
	char *text;

	if (progress__has_bytes(p->state)) {
		double pct = progress__percent(p);

		if (pct >= 0)
			json_object_set_new(o, "percent", json_real(floor(pct * 10) / 10));
		json_object_set_new(o, "bytes", json_integer((json_int_t)p->bytes));
		if (p->total)
			json_object_set_new(o, "total", json_integer((json_int_t)p->total));
		json_object_set_new(o, "rate_bps", json_integer((json_int_t)p->rate));
		if (p->eta >= 0)
			json_object_set_new(o, "eta_s", json_real(floor(p->eta * 10) / 10));
		if (p->layers) {
			json_object_set_new(o, "layers", json_integer(p->layers));
			if (p->state == CONTAINER_STATUS_EXTRACTING && p->layer)
				json_object_set_new(o, "layer", json_integer(p->layer));
		}
	}
	if (p->note[0])
		json_object_set_new(o, "note", json_string(p->note));
	if (extra_key)
		json_object_set_new(o, extra_key, json_string(extra));
	text = json_dumps(o, JSON_COMPACT);
	if (text) {
		fprintf(p->out, "%s\n", text);
		fflush(p->out);
		free(text);
	}
	json_decref(o);
	p->last_draw = progress__now();
}

void progress_enter(struct progress *p, enum container_status s)
{
	if (!p)
		return;
	if (p->live)
		progress_leave(p);
	p->state = s;
	p->entered = progress__now();
	p->bytes = p->total = 0;
	p->rate = 0;
	p->eta = -1;
	p->note[0] = '\0';
	p->plain_shown = -1;
	switch (p->mode) {
	case PROGRESS_TTY:
		progress__tty_draw(p, 0);
		break;
	case PROGRESS_PLAIN:
		fprintf(p->out, "%s\n", pupa_enum_human(PUPA_CONTAINER_STATUS, s));
		fflush(p->out);
		p->last_draw = progress__now();
		break;
	case PROGRESS_JSON:
		progress__json(p, NULL, NULL);
		break;
	default:
		break;
	}
}

void progress_bytes(struct progress *p, uint64_t bytes, uint64_t total, double rate_bps,
		    double eta_s, const char *note)
{
	double now = progress__now();

	if (!p)
		return;
	p->bytes = bytes;
	p->total = total;
	p->rate = rate_bps;
	p->eta = eta_s;
	if (note)
		snprintf(p->note, sizeof(p->note), "%s", note);
	switch (p->mode) {
	case PROGRESS_TTY:
		if (now - p->last_draw >= PROGRESS_TTY_INTERVAL)
			progress__tty_draw(p, 0);
		break;
	case PROGRESS_PLAIN: {
		/* A line only when the whole percentage moved: a layered
		 * image reports 100% once per layer-apply tick. */
		int pct = total ? (int)floor(progress__percent(p)) : -1;

		if (now - p->last_draw >= PROGRESS_PLAIN_INTERVAL && total && pct != p->plain_shown) {
			fprintf(p->out, "%s %d%%\n", pupa_enum_human(PUPA_CONTAINER_STATUS, p->state), pct);
			fflush(p->out);
			p->last_draw = now;
			p->plain_shown = pct;
		}
		break;
	}
	case PROGRESS_JSON:
		if (now - p->last_draw >= PROGRESS_JSON_INTERVAL)
			progress__json(p, NULL, NULL);
		break;
	default:
		break;
	}
}

void progress_layers(struct progress *p, unsigned int layer, unsigned int layers)
{
	if (!p)
		return;
	p->layer = layer;
	p->layers = layers;
}

void progress_leave(struct progress *p)
{
	/* A failure was its own last word: nothing is "done" after it. */
	if (!p || !p->state || p->state == CONTAINER_STATUS_FAILED)
		return;
	if (p->mode == PROGRESS_TTY)
		progress__tty_draw(p, 1);
	else if (p->mode == PROGRESS_JSON && progress__has_bytes(p->state))
		progress__json(p, NULL, NULL);	/* the final numbers */
	p->live = 0;
}

int progress_shows_failure(const struct progress *p)
{
	return p && (p->mode == PROGRESS_TTY || p->mode == PROGRESS_PLAIN);
}

static void progress__fail_json(struct progress *p, enum container_status in, const char *reason,
				const struct pupa_err *err)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "type", "ContainerStatus",
			      "name", "kFailed", "value", CONTAINER_STATUS_FAILED,
			      "failed_in", (int)in,
			      "failed_in_name", in ? pupa_enum_name(PUPA_CONTAINER_STATUS, in) : "",
			      "reason", reason);
	char *text;

	/* The seed's names as fields, so that the reason is only the problem. */
	if (o && err && err->code) {
		json_object_set_new(o, "error_type", json_string(pupa_enum_type_name(err->type)));
		json_object_set_new(o, "error_name", json_string(pupa_enum_name(err->type, err->code)));
		json_object_set_new(o, "error_code", json_integer(err->code));
	}
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text)
		fprintf(p->out, "%s\n", text);
	fflush(p->out);
	free(text);
	json_decref(o);
}

void progress_fail_err(struct progress *p, enum container_status in, const char *reason,
		       const struct pupa_err *err)
{
	char named[1200];

	if (!p)
		return;
	if (!in)
		in = p->state;
	if (p->mode == PROGRESS_TTY && p->live) {
		/* The live line of the state that failed becomes the Failed line. */
		fprintf(p->out, "\r\033[K");
		p->live = 0;
	}
	p->state = CONTAINER_STATUS_FAILED;
	p->note[0] = '\0';
	if (err && err->code)
		pupa_err_format(err, named, sizeof(named));
	else
		snprintf(named, sizeof(named), "%s", reason);
	switch (p->mode) {
	case PROGRESS_TTY:
	case PROGRESS_PLAIN:
		fprintf(p->out, "Failed in %s: %s\n",
			in ? pupa_enum_human(PUPA_CONTAINER_STATUS, in) : "start", named);
		fflush(p->out);
		break;
	case PROGRESS_JSON:
		progress__fail_json(p, in, err && err->code ? err->msg : reason, err);
		break;
	default:
		break;
	}
}

void progress_fail(struct progress *p, enum container_status in, const char *reason)
{
	progress_fail_err(p, in, reason, NULL);
}

void progress_exit(struct progress *p, int status)
{
	if (p && p->mode == PROGRESS_JSON) {
		fprintf(p->out, "{\"exit\":%d}\n", status);
		fflush(p->out);
	}
}

void progress_free(struct progress *p)
{
	if (p && p->live && p->mode == PROGRESS_TTY)
		fprintf(p->out, "\n");
	free(p);
}
