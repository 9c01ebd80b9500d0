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
/* kFailed; in is the state that failed (0: the current one). */
void progress_fail(struct progress *p, enum container_status in, const char *reason);
/* JSON only: the final {"exit":N} object (for --status-fd). */
void progress_exit(struct progress *p, int status);

#endif
