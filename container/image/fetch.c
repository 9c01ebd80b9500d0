/*
 * libcurl easy interface, one request at a time. A response is judged at
 * its first body byte (status known, headers complete): only a 2xx body
 * reaches the sink, and a 200 to a Range request means the server ignored
 * it (or the resource changed, If-Range): the caller must start over.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "curl_lib.h"
#include "fetch.h"

struct fetch_xfer {
	const struct curl_lib *curl;
	struct fetch_request *req;
	const struct fetch_sink *sink;
	struct fetch_response *resp;
	char reason[128];		/* the status line's reason phrase */
	uint64_t content_length;
	uint64_t range_total;
	int asked_range;
	int judged;			/* the first body byte has been seen */
	int restart;			/* 200 to a Range request */
	int sink_failed;
	int too_big;
	size_t body;
	long retry_after;		/* seconds, from a 429 or 503 */
};

static void fetch__trim(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

static size_t fetch__header_cb(char *buf, size_t size, size_t nmemb, void *opaque)
{
	struct fetch_xfer *x = opaque;
	size_t len = size * nmemb;
	char line[2304];
	const char *v;

	snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), buf);
	fetch__trim(line);
	if (strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or 100-continue): forget the last. */
		const char *sp = strchr(line, ' ');

		x->resp->etag[0] = x->resp->last_modified[0] = x->reason[0] = '\0';
		x->resp->www_authenticate[0] = x->resp->content_type[0] = '\0';
		x->resp->docker_digest[0] = '\0';
		x->content_length = x->range_total = 0;
		if (sp && (sp = strchr(sp + 1, ' ')))
			snprintf(x->reason, sizeof(x->reason), "%s", sp + 1);
		return len;
	}
	v = strchr(line, ':');
	if (!v)
		return len;
	v++;
	while (*v == ' ' || *v == '\t')
		v++;
	if (strncasecmp(line, "etag:", 5) == 0)
		snprintf(x->resp->etag, sizeof(x->resp->etag), "%s", v);
	else if (strncasecmp(line, "last-modified:", 14) == 0)
		snprintf(x->resp->last_modified, sizeof(x->resp->last_modified), "%s", v);
	else if (strncasecmp(line, "www-authenticate:", 17) == 0 && !x->resp->www_authenticate[0])
		snprintf(x->resp->www_authenticate, sizeof(x->resp->www_authenticate), "%s", v);
	else if (strncasecmp(line, "content-type:", 13) == 0)
		snprintf(x->resp->content_type, sizeof(x->resp->content_type), "%s", v);
	else if (strncasecmp(line, "docker-content-digest:", 22) == 0)
		snprintf(x->resp->docker_digest, sizeof(x->resp->docker_digest), "%s", v);
	else if (strncasecmp(line, "retry-after:", 12) == 0)
		x->retry_after = isdigit((unsigned char)*v) ? strtol(v, NULL, 10) : 0;
	else if (strncasecmp(line, "content-length:", 15) == 0)
		x->content_length = strtoull(v, NULL, 10);
	else if (strncasecmp(line, "content-range:", 14) == 0) {
		const char *slash = strchr(v, '/');

		if (slash && slash[1] != '*')
			x->range_total = strtoull(slash + 1, NULL, 10);
	}
	return len;
}

/* The first body byte: is this the body we want? */
static void fetch__judge(struct fetch_xfer *x, long status)
{
	x->judged = 1;
	x->resp->status = status;
	if (status == 206 && x->asked_range) {
		x->resp->total = x->range_total;
	} else if (status >= 200 && status < 300) {
		if (x->asked_range) {
			x->restart = 1;
			return;
		}
		x->resp->total = x->content_length;
	} else {
		return;
	}
	if (x->sink->headers)
		x->sink->headers(x->sink->opaque, x->resp->total);
}

static size_t fetch__write_cb(char *buf, size_t size, size_t nmemb, void *opaque)
{
	struct fetch_xfer *x = opaque;
	size_t len = size * nmemb;

	if (x->restart)
		return 0;
	if (x->resp->status < 200 || x->resp->status >= 300)
		return len;	/* an error page: read and drop it */
	if (x->req->max_body && x->body + len > x->req->max_body) {
		x->too_big = 1;
		return 0;
	}
	if (x->sink->data(x->sink->opaque, buf, len) < 0) {
		x->sink_failed = 1;
		return 0;
	}
	x->body += len;
	x->req->offset += len;
	return len;
}

/* libcurl has no "before the first body byte" hook; wrap the write
 * callback to judge the response first. */
struct fetch_cb {
	struct fetch_xfer *x;
	CURL *c;
};

static size_t fetch__body_cb(char *buf, size_t size, size_t nmemb, void *opaque)
{
	struct fetch_cb *cb = opaque;

	if (!cb->x->judged) {
		long status = 0;

		cb->x->curl->easy_getinfo(cb->c, CURLINFO_RESPONSE_CODE, &status);
		fetch__judge(cb->x, status);
	}
	return fetch__write_cb(buf, size, nmemb, cb->x);
}

static int fetch__cancelled(const struct fetch_sink *sink)
{
	return sink->cancelled && sink->cancelled(sink->cancel_opaque);
}

static int fetch__progress_cb(void *opaque, curl_off_t dltotal, curl_off_t dlnow,
			      curl_off_t ultotal, curl_off_t ulnow)
{
	struct fetch_xfer *x = opaque;

	return fetch__cancelled(x->sink);
}

static int fetch__transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* One line for a libcurl failure, naming the URL. */
static void fetch__describe(const struct curl_lib *L, CURLcode rc, const char *url,
			    const char *detail, unsigned int stall_s, char *buf, size_t len)
{
	const char *what;

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		what = "cannot resolve the host name (DNS)";
		break;
	case CURLE_COULDNT_RESOLVE_PROXY:
		what = "cannot resolve the proxy's host name (check http_proxy/https_proxy)";
		break;
	case CURLE_COULDNT_CONNECT:
		what = "cannot connect";
		break;
	case CURLE_OPERATION_TIMEDOUT:
		what = "timed out";
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		what = "TLS: the server's certificate did not verify";
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		what = "TLS handshake failed";
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		what = "unsupported URL scheme";
		break;
	case CURLE_URL_MALFORMAT:
		what = "malformed URL";
		break;
	default:
		what = L->easy_strerror(rc);
	}
	if (rc == CURLE_OPERATION_TIMEDOUT && stall_s)
		snprintf(buf, len, "%s: %s (%s; a stall is less than %u bytes/s for %u s)",
			 url, what, detail, FETCH_MIN_RATE, stall_s);
	else
		snprintf(buf, len, "%s: %s%s%s", url, what, *detail ? ": " : "", detail);
}

static long fetch__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before req's deadline (LONG_MAX: none), at least 0. */
static long fetch__left_ms(const struct fetch_request *req, long start_ms)
{
	long left;

	if (!req->deadline_s)
		return LONG_MAX;
	left = start_ms + (long)req->deadline_s * 1000 - fetch__now_ms();
	return left > 0 ? left : 0;
}

static void fetch__backoff(const struct fetch_sink *sink, unsigned int attempt, long retry_after,
			   long left_ms)
{
	/* 0.5 s, 1 s, 2 s, ... 8 s at most, or what the server asked for up
	 * to a minute, never past the deadline; wakes to notice a cancel. */
	long ms = 500L << (attempt < 4 ? attempt : 4);

	if (retry_after > 0)
		ms = (retry_after > 60 ? 60 : retry_after) * 1000;
	if (ms > left_ms)
		ms = left_ms;

	for (long slept = 0; slept < ms; slept += 50) {
		struct timespec ts = { 0, 50 * 1000000L };

		if (fetch__cancelled(sink))
			return;
		nanosleep(&ts, NULL);
	}
}

static CURL *fetch__easy(struct fetch_request *req, struct fetch_xfer *x, struct fetch_cb *cb,
			 struct curl_slist **hdrs, char *range, char *errbuf, long left_ms)
{
	const struct curl_lib *L = x->curl;
	CURL *c = L->easy_init();

	if (!c)
		return NULL;
	cb->x = x;
	cb->c = c;
	L->easy_setopt(c, CURLOPT_URL, req->url);
	L->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	L->easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	L->easy_setopt(c, CURLOPT_USERAGENT, "pupa/" PACKAGE_VERSION);
	L->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	L->easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	L->easy_setopt(c, CURLOPT_HEADERFUNCTION, fetch__header_cb);
	L->easy_setopt(c, CURLOPT_HEADERDATA, x);
	L->easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch__body_cb);
	L->easy_setopt(c, CURLOPT_WRITEDATA, cb);
	L->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	L->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, fetch__progress_cb);
	L->easy_setopt(c, CURLOPT_XFERINFODATA, x);
	L->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(req->connect_s ? req->connect_s : 30));
	L->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)FETCH_MIN_RATE);
	L->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(req->stall_s ? req->stall_s : 30));
	L->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	L->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	L->easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
	if (left_ms != LONG_MAX)
		L->easy_setopt(c, CURLOPT_TIMEOUT_MS, left_ms > 1 ? left_ms : 1L);
	/* Content digests are of the bytes as served: no transfer decoding. */
	*hdrs = NULL;
	if (req->offset) {
		snprintf(range, 48, "%" PRIu64 "-", req->offset);
		L->easy_setopt(c, CURLOPT_RANGE, range);
		x->asked_range = 1;
		if (req->if_range && *req->if_range) {
			char h[320];

			snprintf(h, sizeof(h), "If-Range: %s", req->if_range);
			*hdrs = L->slist_append(*hdrs, h);
		}
	} else {
		if (req->etag && *req->etag) {
			char h[300];

			snprintf(h, sizeof(h), "If-None-Match: %s", req->etag);
			*hdrs = L->slist_append(*hdrs, h);
		}
		if (req->last_modified && *req->last_modified) {
			char h[128];

			snprintf(h, sizeof(h), "If-Modified-Since: %s", req->last_modified);
			*hdrs = L->slist_append(*hdrs, h);
		}
	}
	/* libcurl keeps these to the first host: a redirect elsewhere (blob
	 * storage) does not get the Authorization header. */
	for (const char *const *h = req->headers; h && *h; h++)
		*hdrs = L->slist_append(*hdrs, *h);
	if (*hdrs)
		L->easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	if (req->ca_file)
		L->easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
	return c;
}

int fetch_run(struct fetch_request *req, const struct fetch_sink *sink,
	      struct fetch_response *resp, struct pupa_err *err)
{
	char errbuf[CURL_ERROR_SIZE], why[1024], range[48];
	const struct curl_lib *L;
	unsigned int attempt;
	long start_ms = fetch__now_ms();

	memset(resp, 0, sizeof(*resp));
	L = curl_lib__get(why, sizeof(why));
	if (!L)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: %s", req->url, why);
	for (attempt = 0;; attempt++) {
		struct fetch_xfer x = { .curl = L, .req = req, .sink = sink, .resp = resp };
		struct fetch_cb cb;
		struct curl_slist *hdrs;
		CURLcode rc;
		CURL *c;
		long status;

		errbuf[0] = '\0';
		c = fetch__easy(req, &x, &cb, &hdrs, range, errbuf, fetch__left_ms(req, start_ms));
		if (!c)
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
				       "%s: cannot set up libcurl", req->url);
		resp->attempts = attempt + 1;
		rc = L->easy_perform(c);
		status = 0;
		L->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		resp->status = status;
		L->easy_cleanup(c);
		L->slist_free_all(hdrs);

		if (x.restart && sink->restart) {
			/* The retry resumed, the server sent it all: from the start,
			 * at once (the failure before this counted as an attempt). */
			sink->restart(sink->opaque);
			req->offset = 0;
			continue;
		}
		if (x.restart)
			return -EAGAIN;
		if (x.sink_failed || fetch__cancelled(sink))
			return err->code ? -(int)err->code :
			       mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
				       "%s: download stopped", req->url);
		if (x.too_big)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "%s: larger than %zu bytes", req->url, req->max_body);
		if (rc == CURLE_OK && status == 304)
			return FETCH_NOT_MODIFIED;
		if (rc == CURLE_OK && status >= 200 && status < 300) {
			if (!x.judged)	/* an empty body */
				fetch__judge(&x, status);
			if (x.restart && sink->restart) {
				sink->restart(sink->opaque);
				req->offset = 0;
				continue;
			}
			if (x.restart)
				return -EAGAIN;
			return FETCH_DONE;
		}
		/* 429: busy, not wrong; retried, after Retry-After if it says. */
		if (rc == CURLE_OK && status >= 400 && status < 500 && status != 429)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: HTTP %ld%s%s",
				       req->url, status, x.reason[0] ? " " : "", x.reason);
		if (rc == CURLE_OK) {
			snprintf(why, sizeof(why), "%s: HTTP %ld%s%s", req->url, status,
				 x.reason[0] ? " " : "", x.reason);
			if (status < 500 && status != 429)
				return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s", why);
		} else {
			/* Past the deadline, a timeout is the deadline's, not a stall. */
			fetch__describe(L, rc, req->url, errbuf,
					fetch__left_ms(req, start_ms) ? req->stall_s : 0, why,
					sizeof(why));
			if (!fetch__transient(rc))
				return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s", why);
		}
		if (req->deadline_s && fetch__left_ms(req, start_ms) == 0)
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
				       "%s: not complete after %u s, the limit for it (%s)", req->url,
				       req->deadline_s, why);
		if (attempt >= req->retries)
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s (gave up after %u attempts)",
				       why, attempt + 1);
		fetch__backoff(sink, attempt, x.retry_after, fetch__left_ms(req, start_ms));
		if (fetch__cancelled(sink))
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: download stopped", req->url);
	}
}

int fetch_mem_data(void *opaque, const void *buf, size_t len)
{
	struct fetch_mem *m = opaque;
	char *n = realloc(m->buf, m->len + len + 1);

	if (!n)
		return -1;
	memcpy(n + m->len, buf, len);
	m->buf = n;
	m->len += len;
	m->buf[m->len] = '\0';
	return 0;
}

void fetch_mem_restart(void *opaque)
{
	struct fetch_mem *m = opaque;

	free(m->buf);
	m->buf = NULL;
	m->len = 0;
}

int fetch_small(const char *url, size_t max, char **out, size_t *len, struct pupa_err *err)
{
	struct fetch_mem m = { 0 };
	struct fetch_sink sink = { .data = fetch_mem_data, .opaque = &m };
	struct fetch_request req = { .url = url, .retries = 2, .stall_s = 30, .max_body = max };
	struct fetch_response resp;
	int ret = fetch_run(&req, &sink, &resp, err);

	if (ret < 0) {
		free(m.buf);
		return ret == -EAGAIN ? mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
						"%s: unexpected response", url) : ret;
	}
	if (!m.buf && !(m.buf = calloc(1, 1)))
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	*out = m.buf;
	*len = m.len;
	return 0;
}
