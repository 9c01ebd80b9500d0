/*
 * One HTTP(S) download with what users expect of a downloader: resume with
 * Range + If-Range, conditional requests (ETag, Last-Modified), retries with
 * backoff on connection errors, timeouts, stalls and 5xx (never on 4xx),
 * proxies from the environment (libcurl's http_proxy, https_proxy,
 * no_proxy), TLS verification on. Body bytes go to a sink, in order.
 */
#ifndef PUPA_FETCH_H
#define PUPA_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct fetch_sink {
	/* Body bytes, in order; return 0, or -1 to abort the transfer. */
	int (*data)(void *opaque, const void *buf, size_t len);
	/* Headers of the response that will carry the body have arrived. */
	void (*headers)(void *opaque, uint64_t total);
	/* Non-zero when the transfer should stop: checked at least once a
	 * second, idle or not, with its own argument (not the data's). */
	int (*cancelled)(void *cancel_opaque);
	void *opaque;
	void *cancel_opaque;
	/* Optional: forget the body so far. With it, a resumed retry that gets
	 * the whole resource starts over inside fetch_run (no -EAGAIN). */
	void (*restart)(void *opaque);
};

/* Slower than this for stall_s seconds is a stall (a server that drips a
 * byte at a time must not hold a pull for ever). */
#define FETCH_MIN_RATE 1024

struct fetch_request {
	const char *url;
	uint64_t offset;		/* bytes already held: resume after them */
	const char *if_range;		/* their ETag or Last-Modified */
	const char *etag;		/* conditional request: If-None-Match */
	const char *last_modified;	/* conditional request: If-Modified-Since */
	unsigned int retries;		/* further attempts after a transient failure */
	unsigned int stall_s;		/* slower than FETCH_MIN_RATE this long stalls */
	unsigned int connect_s;
	unsigned int deadline_s;	/* the whole fetch, retries included; 0: none */
	size_t max_body;		/* 0: no limit (a small fetch sets one) */
	const char *const *headers;	/* more request headers, NULL-terminated */
	const char *ca_file;		/* trust only this CA bundle (a registry's own) */
};

struct fetch_response {
	long status;
	char etag[256];
	char last_modified[64];
	uint64_t total;			/* the whole resource's size, 0 unknown */
	unsigned int attempts;
	/* What a registry client reads of the final response. */
	char www_authenticate[2048];
	char content_type[256];
	char docker_digest[128];	/* Docker-Content-Digest */
};

enum fetch_outcome {
	FETCH_DONE = 0,
	FETCH_NOT_MODIFIED = 1,		/* 304 to a conditional request */
};

/*
 * Negative: failed (err says why, naming the URL), or -EAGAIN when the server
 * answered a resume with the whole resource: the caller starts over with
 * offset 0. req->offset advances as bytes arrive.
 */
int fetch_run(struct fetch_request *req, const struct fetch_sink *sink,
	      struct fetch_response *resp, struct pupa_err *err);

/* A sink that gathers the body in memory, NUL-terminated (bound it with
 * fetch_request.max_body). */
struct fetch_mem {
	char *buf;
	size_t len;
};
int fetch_mem_data(void *opaque, const void *buf, size_t len);
void fetch_mem_restart(void *opaque);

/* A small resource (a SHA256SUMS file) into memory, NUL-terminated. */
int fetch_small(const char *url, size_t max, char **out, size_t *len, struct pupa_err *err);

#endif
