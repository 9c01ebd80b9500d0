/*
 * Open addressing with linear probing and tombstones; FNV-1a hashes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pathmap.h"

static char pathmap_tomb;
#define TOMB (&pathmap_tomb)

static uint64_t pathmap__hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int pathmap_init(struct pathmap *m)
{
	memset(m, 0, sizeof(*m));
	m->cap = 1024;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	return m->slots ? 0 : -ENOMEM;
}

void pathmap_free(struct pathmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].path && m->slots[i].path != TOMB)
			free(m->slots[i].path);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static int pathmap__same(const struct pathmap_ent *e, const char *path, size_t len)
{
	return e->path != TOMB && strncmp(e->path, path, len) == 0 && e->path[len] == '\0';
}

/* The slot holding path, or the empty slot where it would go. */
static struct pathmap_ent *pathmap__find(const struct pathmap *m, const char *path,
					 size_t len, int for_insert)
{
	size_t mask = m->cap - 1, i = pathmap__hash(path, len) & mask;
	struct pathmap_ent *first_tomb = NULL;

	for (;; i = (i + 1) & mask) {
		struct pathmap_ent *e = &m->slots[i];

		if (!e->path)
			return for_insert && first_tomb ? first_tomb : e;
		if (e->path == TOMB) {
			if (!first_tomb)
				first_tomb = e;
			continue;
		}
		if (pathmap__same(e, path, len))
			return e;
	}
}

struct pathmap_ent *pathmap_get(const struct pathmap *m, const char *path, size_t len)
{
	struct pathmap_ent *e = pathmap__find(m, path, len, 0);

	return e->path ? e : NULL;
}

static int pathmap__grow(struct pathmap *m)
{
	struct pathmap old = *m;

	m->cap = old.cap * 2;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		*m = old;
		return -ENOMEM;
	}
	m->tombs = 0;
	for (size_t i = 0; i < old.cap; i++) {
		struct pathmap_ent *e = &old.slots[i];

		if (e->path && e->path != TOMB)
			*pathmap__find(m, e->path, strlen(e->path), 1) = *e;
	}
	free(old.slots);
	return 0;
}

struct pathmap_ent *pathmap_put(struct pathmap *m, const char *path, size_t len,
				uint32_t ino, uint16_t mode)
{
	struct pathmap_ent *e;

	if ((m->used + m->tombs + 1) * 4 > m->cap * 3 && pathmap__grow(m) < 0)
		return NULL;
	e = pathmap__find(m, path, len, 1);
	if (!e->path || e->path == TOMB) {
		char *copy;

		if (m->max_bytes && len + 1 > m->max_bytes - m->bytes) {
			errno = E2BIG;
			return NULL;
		}
		copy = strndup(path, len);
		if (!copy)
			return NULL;
		m->bytes += len + 1;
		if (e->path == TOMB)
			m->tombs--;
		e->path = copy;
		m->used++;
	}
	e->ino = ino;
	e->mode = mode;
	e->layer = 0;
	return e;
}

void pathmap_del(struct pathmap *m, const char *path, size_t len)
{
	struct pathmap_ent *e = pathmap__find(m, path, len, 0);

	if (!e->path)
		return;
	m->bytes -= strlen(e->path) + 1;
	free(e->path);
	e->path = TOMB;
	m->used--;
	m->tombs++;
}
