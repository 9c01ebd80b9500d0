/*
 * Listening Unix sockets that survive a killed predecessor: a stale socket
 * file (nobody accepts on it) is removed and bound again; a live one means
 * another VMM owns the path.
 */
#ifndef PUPA_VMM_UNIX_SOCKET_H
#define PUPA_VMM_UNIX_SOCKET_H

/* A non-blocking listening socket at path; -EADDRINUSE if a live peer owns it. */
int unix_socket__listen(const char *path);

/* A non-blocking connection to path, or -errno. */
int unix_socket__connect(const char *path);

#endif
