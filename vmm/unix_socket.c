#include "unix_socket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A non-blocking stream socket and the address for path; fd or -errno. */
static int new_socket(struct sockaddr_un *sa, const char *path)
{
	int fd;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int unix_socket__connect(const char *path)
{
	struct sockaddr_un sa;
	int fd = new_socket(&sa, path), ret;

	if (fd < 0)
		return fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int unix_socket__listen(const char *path)
{
	struct sockaddr_un sa;
	int fd = new_socket(&sa, path), ret;

	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int peer;

		ret = -errno;
		if (ret != -EADDRINUSE)
			goto fail;
		/* Someone answering means a live owner; silence means a stale file. */
		peer = unix_socket__connect(path);
		if (peer >= 0) {
			close(peer);
			goto fail;
		}
		if (peer != -ECONNREFUSED && peer != -ENOENT)
			goto fail;
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	if (listen(fd, 64) < 0) {
		ret = -errno;
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}
