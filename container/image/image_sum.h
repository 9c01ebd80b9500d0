/*
 * The checksum a cached image file is recorded and verified with.
 */
#ifndef PUPA_IMAGE_SUM_H
#define PUPA_IMAGE_SUM_H

#include <stdint.h>

/* The file's size and its sum, in hex[DIGEST_HEX_LEN + 1]; or -errno. */
int image_sum(int fd, uint64_t *size, char *hex);

#endif
