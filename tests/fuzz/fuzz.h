/* SPDX-License-Identifier: MIT */
/*
 * The libFuzzer targets' common part. Each target is one file that
 * defines LLVMFuzzerTestOneInput() and fuzz_seeds(): with PUPA_FUZZ_SEEDS
 * set to a folder, the target writes its seed inputs there and exits (make
 * fuzz does this before each run), so seeds are code that follows the
 * formats, not committed blobs.
 */
#ifndef PUPA_FUZZ_H
#define PUPA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The target's seeds, each written with fuzz_seed(). */
void fuzz_seeds(void);

/* One seed file NAME in the seeds folder. */
void fuzz_seed(const char *name, const void *data, size_t len);

#endif
