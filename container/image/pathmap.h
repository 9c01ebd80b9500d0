/*
 * What the image already holds, by path: the ext4 writer asks it instead of
 * scanning directories, which would make every insert linear in the size of
 * the directory. Paths are normalized (no leading '/', no '.', no '..').
 */
#ifndef PUPA_PATHMAP_H
#define PUPA_PATHMAP_H

#include <stddef.h>
#include <stdint.h>

struct pathmap_ent {
	char *path;		/* owned by the map */
	uint32_t ino;
	uint16_t mode;		/* S_IFMT bits and permissions, as in the image */
	uint32_t layer;		/* the image layer that wrote it last (0: none) */
};

struct pathmap {
	struct pathmap_ent *slots;
	size_t cap;		/* power of two */
	size_t used;		/* live entries */
	size_t tombs;		/* deleted slots still probed through */
	size_t bytes;		/* held by the paths, NULs included */
	size_t max_bytes;	/* 0: no bound */
};

int pathmap_init(struct pathmap *m);
void pathmap_free(struct pathmap *m);

/* NULL when absent. */
struct pathmap_ent *pathmap_get(const struct pathmap *m, const char *path, size_t len);

/* Insert or replace; returns the entry, or NULL with errno ENOMEM, or E2BIG
 * when a new path would take the map past max_bytes. */
struct pathmap_ent *pathmap_put(struct pathmap *m, const char *path, size_t len,
				uint32_t ino, uint16_t mode);

void pathmap_del(struct pathmap *m, const char *path, size_t len);

#endif
