#include "unix_socket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/*
 * A path that may be taken over is a socket nobody answers on: 1. A live
 * socket is another VMM's (0); anything that is not a socket (a file, a
 * directory, a symlink) is someone's, and stays (-ENOTSOCK).
 */
static int unix_socket__stale(const char *path)
{
	struct stat st;
	int peer;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	peer = unix_socket__connect(path);
	if (peer >= 0) {
		close(peer);
		return 0;
	}
	return peer == -ECONNREFUSED;
}

/*
 * Bound, made 0600, then listening: a connect() before listen() is refused,
 * so nobody else gets in during the moment the socket has the umask's mode.
 */
int unix_socket__listen(const char *path)
{
	struct sockaddr_un sa;
	int fd = new_socket(&sa, path), ret;

	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		if (ret != -EADDRINUSE)
			goto fail;
		ret = unix_socket__stale(path);
		if (ret <= 0) {
			ret = ret ? ret : -EADDRINUSE;
			goto fail;
		}
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	if (chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		ret = -errno;
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}
