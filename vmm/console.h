/*
 * Where the guest console goes: stdout, a log file, or nowhere; and, when
 * stdin is a terminal, where keystrokes come from. The terminal is put in
 * raw mode while the guest owns it and restored by console__close() on
 * every exit path. Ctrl-A x asks the VMM to quit (as in QEMU).
 */
#ifndef PUPA_VMM_CONSOLE_H
#define PUPA_VMM_CONSOLE_H

#include <pthread.h>
#include <stddef.h>
#include <termios.h>

#include "capped_log.h"
#include "error.h"

struct console {
	int out_fd;		/* -1: discard */
	int owns_out;
	int capped;		/* a regular file: written through log */
	struct capped_log log;
	int in_fd;		/* -1: no input */
	int raw;		/* terminal state saved in saved_tio */
	int escape;		/* saw Ctrl-A */
	struct termios saved_tio;
	pthread_mutex_t lock;
};

/* spec is "stdio", "none" or a file path (created or truncated). A regular
 * file keeps the first and the last MiB of what the guest writes (see
 * capped_log.h): the guest must not fill the host's disk. */
int console__open(struct console *con, const char *spec, struct pupa_err *err);
void console__write(struct console *con, const void *buf, size_t len);

/*
 * Filter bytes read from in_fd: strips the escape sequence, returns how
 * many of buf remain for the guest, and sets *quit on Ctrl-A x.
 */
size_t console__filter_input(struct console *con, char *buf, size_t len, int *quit);
void console__close(struct console *con);

#endif
