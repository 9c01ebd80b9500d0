#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONSOLE_ESCAPE 0x01	/* Ctrl-A */

int console__open(struct console *con, const char *spec, struct pupa_err *err)
{
	struct stat st;
	int readable;

	memset(con, 0, sizeof(*con));
	con->out_fd = -1;
	con->in_fd = -1;
	pthread_mutex_init(&con->lock, NULL);

	if (strcmp(spec, "none") == 0)
		return 0;
	if (strcmp(spec, "stdio") == 0) {
		con->out_fd = STDOUT_FILENO;
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &con->saved_tio) == 0) {
			struct termios raw = con->saved_tio;

			cfmakeraw(&raw);
			raw.c_oflag |= OPOST;	/* keep \n -> \r\n for host-side messages */
			if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
				con->raw = 1;
			con->in_fd = STDIN_FILENO;
		}
		return 0;
	}
	/* Read and write: rolling the tail reads it back (capped_log). A
	 * file we may only write to is written whole. */
	con->out_fd = open(spec, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	readable = con->out_fd >= 0;
	if (!readable)
		con->out_fd = open(spec, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (con->out_fd < 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--serial %s: %s", spec, strerror(errno));
	con->owns_out = 1;
	if (readable && fstat(con->out_fd, &st) == 0 && S_ISREG(st.st_mode)) {
		const char *keep = getenv("PUPA_VMM_CONSOLE_KEEP");
		unsigned long long k = keep ? strtoull(keep, NULL, 10) : 0;

		/* Each of the head and the tail; 4 KiB at least. */
		if (k < 4096)
			k = CAPPED_LOG_HEAD;
		capped_log__init(&con->log, con->out_fd, k, k);
		con->capped = 1;
	}
	return 0;
}

void console__write(struct console *con, const void *buf, size_t len)
{
	const char *p = buf;

	if (con->out_fd < 0)
		return;
	pthread_mutex_lock(&con->lock);
	if (con->capped) {
		/* A full disk must not stop the guest either. */
		(void)capped_log__write(&con->log, buf, len);
		len = 0;
	}
	while (len > 0) {
		ssize_t n = write(con->out_fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* a closed or full log must not stop the guest */
		p += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&con->lock);
}

size_t console__filter_input(struct console *con, char *buf, size_t len, int *quit)
{
	size_t out = 0;

	*quit = 0;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (con->escape) {
			con->escape = 0;
			if (c == 'x' || c == 'X') {
				*quit = 1;
				return out;
			}
			if (c != CONSOLE_ESCAPE)
				continue;	/* unknown escape: swallow it */
		} else if (c == CONSOLE_ESCAPE) {
			con->escape = 1;
			continue;
		}
		buf[out++] = c;
	}
	return out;
}

void console__close(struct console *con)
{
	if (con->raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &con->saved_tio);
		con->raw = 0;
	}
	if (con->owns_out && con->out_fd >= 0)
		close(con->out_fd);
	con->out_fd = -1;
	pthread_mutex_destroy(&con->lock);
}
