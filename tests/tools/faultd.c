/*
 * faultd DIR PORTFILE LOG: a small HTTP/1.1 file server on 127.0.0.1 that
 * misbehaves on request, for the download tests. It serves DIR with ETag,
 * Last-Modified, Range (bytes=N-), If-Range and If-None-Match, and the first
 * path component picks a fault:
 *
 *   /ok/F          behave
 *   /e500x2/F      answer 500 to the first two requests for F, then behave
 *   /drop/F        the first response for F stops at half and closes
 *   /norange/F     like drop, and never honour Range
 *   /stall/F       the first response for F stops sending at half (held open)
 *   /slow/F        send 64 KiB every 50 ms
 *   /slower/F      send 64 KiB every 200 ms (a download that outlasts a
 *                  slow boot under nested emulation)
 *   /e404/F        404
 *   /e429x2/F      429 Too Many Requests with Retry-After: 2, twice, then behave
 *
 * The port it bound goes to PORTFILE; every response is logged to LOG as
 * "GET /path range=R inm=E status=S sent=N".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *root;
static FILE *log_file;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct counter {
	char path[1100];
	int n;
};
static struct counter counters[256];

/* How many requests for path came before this one. */
static int count(const char *path)
{
	int n = 0;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < 256; i++) {
		if (counters[i].path[0] == '\0') {
			snprintf(counters[i].path, sizeof(counters[i].path), "%s", path);
			n = counters[i].n++;
			break;
		}
		if (strcmp(counters[i].path, path) == 0) {
			n = counters[i].n++;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return n;
}

static void logline(const char *path, const char *range, const char *inm, int status, long sent)
{
	pthread_mutex_lock(&lock);
	fprintf(log_file, "GET %s range=%s inm=%s status=%d sent=%ld\n", path,
		range[0] ? range : "-", inm[0] ? inm : "-", status, sent);
	fflush(log_file);
	pthread_mutex_unlock(&lock);
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void respond_simple(int fd, int status, const char *reason)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s\n", status, reason, strlen(reason) + 1, reason);

	send_all(fd, buf, (size_t)n);
}

static void header_value(const char *req, const char *name, char *out, size_t len)
{
	const char *p = req;
	size_t nl = strlen(name);

	out[0] = '\0';
	while ((p = strchr(p, '\n'))) {
		p++;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *end;

			while (*v == ' ')
				v++;
			end = strpbrk(v, "\r\n");
			snprintf(out, len, "%.*s", (int)(end ? end - v : (long)strlen(v)), v);
			return;
		}
	}
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char req[8192], method[16], url[1024], fault[64], file[1024], path[4096];
	char range[128], inm[300], ifr[300], etag[128], lm[64], hdr[1024];
	size_t got = 0;
	struct stat st;
	long from = 0, sent = 0, limit, i;
	int nth, f, status, fault_now;

	while (got < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);

		if (n <= 0)
			goto out;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "%15s %1023s", method, url) != 2 ||
	    sscanf(url, "/%63[^/]/%1023s", fault, file) != 2 || strstr(file, "..")) {
		respond_simple(fd, 400, "Bad Request");
		goto out;
	}
	header_value(req, "Range", range, sizeof(range));
	header_value(req, "If-None-Match", inm, sizeof(inm));
	header_value(req, "If-Range", ifr, sizeof(ifr));
	nth = count(url);
	snprintf(path, sizeof(path), "%s/%s", root, file);
	if (strcmp(fault, "e404") == 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		respond_simple(fd, 404, "Not Found");
		logline(url, range, inm, 404, 0);
		goto out;
	}
	if (strcmp(fault, "e429x2") == 0 && nth < 2) {
		static const char busy[] = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\n"
					   "Content-Length: 0\r\nConnection: close\r\n\r\n";

		send_all(fd, busy, sizeof(busy) - 1);
		logline(url, range, inm, 429, 0);
		goto out;
	}
	if (strcmp(fault, "e500x2") == 0 && nth < 2) {
		respond_simple(fd, 500, "Internal Server Error");
		logline(url, range, inm, 500, 0);
		goto out;
	}
	snprintf(etag, sizeof(etag), "\"%lx-%lx\"", (long)st.st_mtime, (long)st.st_size);
	strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&st.st_mtime));
	if (inm[0] && strcmp(inm, etag) == 0) {
		int n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 304 Not Modified\r\nETag: %s\r\n"
				 "Connection: close\r\n\r\n", etag);

		send_all(fd, hdr, (size_t)n);
		logline(url, range, inm, 304, 0);
		goto out;
	}
	status = 200;
	if (range[0] && strcmp(fault, "norange") != 0 && (!ifr[0] || strcmp(ifr, etag) == 0) &&
	    sscanf(range, "bytes=%ld-", &from) == 1 && from >= 0 && from < st.st_size)
		status = 206;
	else
		from = 0;
	if (status == 206)
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 206 Partial Content\r\nContent-Length: %ld\r\n"
			 "Content-Range: bytes %ld-%ld/%ld\r\nETag: %s\r\nLast-Modified: %s\r\n"
			 "Connection: close\r\n\r\n", (long)st.st_size - from, from,
			 (long)st.st_size - 1, (long)st.st_size, etag, lm);
	else
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n"
			 "Accept-Ranges: bytes\r\nETag: %s\r\nLast-Modified: %s\r\n"
			 "Connection: close\r\n\r\n", (long)st.st_size, etag, lm);
	if (send_all(fd, hdr, strlen(hdr)) < 0)
		goto out;
	f = open(path, O_RDONLY);
	if (f < 0)
		goto out;
	fault_now = nth == 0 && (strcmp(fault, "drop") == 0 || strcmp(fault, "norange") == 0 ||
				 strcmp(fault, "stall") == 0);
	limit = fault_now ? st.st_size / 2 - from : st.st_size - from;
	lseek(f, from, SEEK_SET);
	for (i = 0; i < limit;) {
		char buf[65536];
		ssize_t n = read(f, buf, (size_t)(limit - i) < sizeof(buf) ? (size_t)(limit - i) : sizeof(buf));

		if (n <= 0 || send_all(fd, buf, (size_t)n) < 0)
			break;
		i += n;
		sent += n;
		if (strcmp(fault, "slow") == 0)
			usleep(50000);
		else if (strcmp(fault, "slower") == 0)
			usleep(200000);
	}
	close(f);
	logline(url, range, inm, status, sent);
	if (fault_now && strcmp(fault, "stall") == 0) {
		char c;

		/* Hold the connection until the client gives up on it. */
		while (recv(fd, &c, 1, 0) > 0)
			;
	}
out:
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	FILE *pf;
	int s, one = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: faultd DIR PORTFILE LOG\n");
		return 2;
	}
	root = argv[1];
	log_file = fopen(argv[3], "a");
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!log_file || s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) < 0) {
		perror("faultd");
		return 1;
	}
	pf = fopen(argv[2], "w");
	if (!pf)
		return 1;
	fprintf(pf, "%d\n", ntohs(sa.sin_port));
	fclose(pf);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept(s, NULL, NULL);
		pthread_t t;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pthread_create(&t, NULL, serve, (void *)(long)c) == 0)
			pthread_detach(t);
		else
			close(c);
	}
}
