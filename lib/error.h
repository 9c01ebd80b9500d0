/*
 * An error on its way to the user: the seed code it maps to and one line
 * that names what failed and what to do. Functions fill one of these and
 * return the negated code, so callers can just pass the return value up.
 */
#ifndef PUPA_ERROR_H
#define PUPA_ERROR_H

#include "enums.h"

struct pupa_err {
	enum pupa_enum_type type;	/* usually PUPA_GUEST_ERROR */
	uint32_t code;
	char msg[768];
};

/* Record an error (the first one wins) and return -code. */
int pupa_err_set(struct pupa_err *err, enum pupa_enum_type type, uint32_t code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Shorthand for GuestError codes. */
#define guest_err(err, code, ...) pupa_err_set((err), PUPA_GUEST_ERROR, (code), __VA_ARGS__)

/* Shorthand for GuestManagerError codes (the orchestrator's own failures). */
#define mgr_err(err, code, ...) \
	pupa_err_set((err), PUPA_GUEST_MANAGER_ERROR, (code), __VA_ARGS__)

/* Write a reason into why (for parsers that report but do not decide); returns err. */
int pupa_why(char *why, unsigned long len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Messages quote outside text: archive entry names, HTTP reasons, what a
 * guest says. Replace every control character (C0, DEL, C1) and every byte
 * that is not valid UTF-8 with '?', in place, so no escape sequence reaches
 * the terminal. pupa_err_set and pupa_why do this to every message.
 */
void pupa_text_sanitize(char *s);

/* "message (BadConfig, GuestError 3)" */
void pupa_err_format(const struct pupa_err *err, char *buf, unsigned long len);

#endif
