/*
 * Listening Unix sockets that survive a killed predecessor: a stale socket
 * file (nobody accepts on it) is removed and bound again; a live one means
 * another VMM owns the path, and anything that is not a socket is never
 * removed. The socket is 0600 whatever the umask: who can connect can
 * attach any file the VMM can open.
 */
#ifndef PUPA_VMM_UNIX_SOCKET_H
#define PUPA_VMM_UNIX_SOCKET_H

/* A non-blocking listening socket at path, mode 0600; -EADDRINUSE if a
 * live peer holds the path, -ENOTSOCK if something that is not a socket
 * does. */
int unix_socket__listen(const char *path);

/* A non-blocking connection to path, or -errno. */
int unix_socket__connect(const char *path);

#endif
