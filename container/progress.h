/*
 * Where a start (or a pull) is, on screen or for programs: the seed's
 * ContainerStatus states, entered in order, with byte progress for the
 * Downloading and Extracting stages.
 *
 *   tty    one live line per stage, redrawn at most 10 times a second
 *   plain  one line per state change, a percentage line every few seconds
 *   json   one object per line (state changes and progress)
 *   none   nothing
 */
#ifndef PUPA_PROGRESS_H
#define PUPA_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "enums.h"
#include "error.h"

enum progress_mode { PROGRESS_AUTO, PROGRESS_TTY, PROGRESS_PLAIN, PROGRESS_JSON, PROGRESS_NONE };

struct progress;

/* "auto", "tty", ...; -1 if unknown. */
int progress_mode_parse(const char *s);

/* out is not closed; auto becomes tty on a terminal, none otherwise. */
struct progress *progress_new(enum progress_mode mode, FILE *out);
void progress_free(struct progress *p);

void progress_enter(struct progress *p, enum container_status s);
/* Byte progress of the current state; total 0 = unknown, eta < 0 = unknown. */
void progress_bytes(struct progress *p, uint64_t bytes, uint64_t total, double rate_bps,
		    double eta_s, const char *note);
/* A layered image: the layer being applied (1..n) of n; shown with the bytes. */
void progress_layers(struct progress *p, unsigned int layer, unsigned int layers);
/* The current state is done (tty marks it so). */
void progress_leave(struct progress *p);
/*
 * kFailed; in is the state that failed (0: the current one). With err,
 * tty and plain show its names after the reason, json as fields
 * (error_type, error_name, error_code) beside a reason without them.
 */
void progress_fail(struct progress *p, enum container_status in, const char *reason);
void progress_fail_err(struct progress *p, enum container_status in, const char *reason,
		       const struct pupa_err *err);
/* tty and plain print the failure themselves: the caller need not again. */
int progress_shows_failure(const struct progress *p);
/* JSON only: the final {"exit":N} object (for --status-fd). */
void progress_exit(struct progress *p, int status);

#endif
