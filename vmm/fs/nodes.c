/* SPDX-License-Identifier: MIT */
#include "nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t nodes__hash(dev_t dev, ino_t ino, uint16_t vol)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL ^ vol;

	return (uint32_t)(h >> 40) & (FS_HASH_BUCKETS - 1);
}

int fs_nodes__init(struct fs_nodes *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->bucket = calloc(FS_HASH_BUCKETS, sizeof(*t->bucket));
	t->cap_node = 1024;
	t->node = calloc(t->cap_node, sizeof(*t->node));
	t->cap_handle = 64;
	t->handle = calloc(t->cap_handle, sizeof(*t->handle));
	if (!t->bucket || !t->node || !t->handle) {
		fs_nodes__destroy(t);
		return -ENOMEM;
	}
	t->node[FS_ROOT_ID] = (struct fs_node){ .fd = -1, .vol = FS_NO_VOLUME, .used = 1,
						.type = S_IFDIR, .nlookup = 1 };
	t->nr_node = 2;
	t->nr_handle = 1;	/* handle 0 stays unused: a zero fh is a mistake */
	return 0;
}

static void nodes__unhash(struct fs_nodes *t, uint32_t id)
{
	struct fs_node *n = &t->node[id];
	uint32_t *p = &t->bucket[nodes__hash(n->dev, n->ino, n->vol)];

	while (*p && *p != id)
		p = &t->node[*p].next;
	if (*p)
		*p = n->next;
}

/* The node is unused now: close and free its slot. Lock held. */
static void nodes__free(struct fs_nodes *t, uint32_t id)
{
	struct fs_node *n = &t->node[id];

	nodes__unhash(t, id);
	if (n->fd >= 0)
		close(n->fd);
	*n = (struct fs_node){ .fd = -1, .next = t->free_node };
	t->free_node = id;
	t->live_nodes--;
}

static int nodes__grow(struct fs_nodes *t)
{
	uint32_t cap = t->cap_node * 2;
	struct fs_node *p;

	if (t->cap_node >= FS_MAX_NODES)
		return -ENFILE;
	p = realloc(t->node, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + t->cap_node, 0, (cap - t->cap_node) * sizeof(*p));
	t->node = p;
	t->cap_node = cap;
	return 0;
}

int64_t fs_nodes__lookup(struct fs_nodes *t, int fd, uint16_t vol)
{
	struct stat st;
	uint32_t id, b;
	int ret = 0;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	b = nodes__hash(st.st_dev, st.st_ino, vol);
	pthread_mutex_lock(&t->lock);
	for (id = t->bucket[b]; id; id = t->node[id].next) {
		struct fs_node *n = &t->node[id];

		if (n->dev == st.st_dev && n->ino == st.st_ino && n->vol == vol)
			break;
	}
	if (id) {
		t->node[id].nlookup++;
		t->node[id].pins++;
		pthread_mutex_unlock(&t->lock);
		close(fd);
		return id;
	}
	if (t->free_node) {
		id = t->free_node;
		t->free_node = t->node[id].next;
	} else if (t->nr_node < t->cap_node || (ret = nodes__grow(t)) == 0) {
		id = t->nr_node++;
	}
	if (ret < 0) {
		pthread_mutex_unlock(&t->lock);
		close(fd);
		return ret;
	}
	t->node[id] = (struct fs_node){ .fd = fd, .vol = vol, .used = 1, .type = st.st_mode & S_IFMT,
					.dev = st.st_dev, .ino = st.st_ino, .nlookup = 1, .pins = 1,
					.next = t->bucket[b] };
	t->bucket[b] = id;
	t->live_nodes++;
	pthread_mutex_unlock(&t->lock);
	return id;
}

int fs_nodes__get(struct fs_nodes *t, uint64_t id, struct fs_node *out)
{
	int ret = -ESTALE;

	pthread_mutex_lock(&t->lock);
	if (id > 0 && id < t->nr_node && t->node[id].used && (t->node[id].nlookup || id == FS_ROOT_ID)) {
		t->node[id].pins++;
		*out = t->node[id];
		ret = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void fs_nodes__put(struct fs_nodes *t, uint64_t id)
{
	pthread_mutex_lock(&t->lock);
	if (id > 0 && id < t->nr_node && t->node[id].used && t->node[id].pins) {
		struct fs_node *n = &t->node[id];

		if (--n->pins == 0 && n->nlookup == 0 && id != FS_ROOT_ID)
			nodes__free(t, (uint32_t)id);
	}
	pthread_mutex_unlock(&t->lock);
}

void fs_nodes__forget(struct fs_nodes *t, uint64_t id, uint64_t count)
{
	pthread_mutex_lock(&t->lock);
	if (id > FS_ROOT_ID && id < t->nr_node && t->node[id].used) {
		struct fs_node *n = &t->node[id];

		n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
		if (n->nlookup == 0 && n->pins == 0)
			nodes__free(t, (uint32_t)id);
	}
	pthread_mutex_unlock(&t->lock);
}

int64_t fs_handles__add(struct fs_nodes *t, int fd, uint16_t vol, int is_dir)
{
	uint32_t fh = 0;

	pthread_mutex_lock(&t->lock);
	if (t->free_handle) {
		fh = t->free_handle;
		t->free_handle = (uint32_t)t->handle[fh].pins;	/* the free list's link */
	} else if (t->nr_handle < t->cap_handle) {
		fh = t->nr_handle++;
	} else if (t->cap_handle < FS_MAX_HANDLES) {
		struct fs_handle *p = realloc(t->handle, 2 * t->cap_handle * sizeof(*p));

		if (p) {
			memset(p + t->cap_handle, 0, t->cap_handle * sizeof(*p));
			t->handle = p;
			t->cap_handle *= 2;
			fh = t->nr_handle++;
		}
	}
	if (fh)
		t->handle[fh] = (struct fs_handle){ .fd = fd, .vol = vol, .used = 1,
						    .is_dir = (uint8_t)is_dir };
	t->live_handles += fh != 0;
	pthread_mutex_unlock(&t->lock);
	if (!fh && fd >= 0)
		close(fd);
	return fh ? (int64_t)fh : -ENFILE;
}

static void handles__free(struct fs_nodes *t, uint32_t fh)
{
	if (t->handle[fh].fd >= 0)
		close(t->handle[fh].fd);
	t->handle[fh] = (struct fs_handle){ .fd = -1, .pins = t->free_handle };
	t->free_handle = fh;
	t->live_handles--;
}

int fs_handles__get(struct fs_nodes *t, uint64_t fh, struct fs_handle *out)
{
	int ret = -EBADF;

	pthread_mutex_lock(&t->lock);
	if (fh > 0 && fh < t->nr_handle && t->handle[fh].used && !t->handle[fh].released) {
		t->handle[fh].pins++;
		*out = t->handle[fh];
		ret = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void fs_handles__put(struct fs_nodes *t, uint64_t fh)
{
	pthread_mutex_lock(&t->lock);
	if (fh > 0 && fh < t->nr_handle && t->handle[fh].used && t->handle[fh].pins &&
	    --t->handle[fh].pins == 0 && t->handle[fh].released)
		handles__free(t, (uint32_t)fh);
	pthread_mutex_unlock(&t->lock);
}

int fs_handles__release(struct fs_nodes *t, uint64_t fh)
{
	int ret = -EBADF;

	pthread_mutex_lock(&t->lock);
	if (fh > 0 && fh < t->nr_handle && t->handle[fh].used && !t->handle[fh].released) {
		t->handle[fh].released = 1;
		if (t->handle[fh].pins == 0)
			handles__free(t, (uint32_t)fh);
		ret = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void fs_nodes__clear(struct fs_nodes *t)
{
	pthread_mutex_lock(&t->lock);
	for (uint32_t id = FS_ROOT_ID + 1; id < t->nr_node; id++) {
		struct fs_node *n = &t->node[id];

		if (!n->used)
			continue;
		n->nlookup = 0;
		if (n->pins == 0)
			nodes__free(t, id);
	}
	for (uint32_t fh = 1; fh < t->nr_handle; fh++) {
		struct fs_handle *h = &t->handle[fh];

		if (!h->used || h->released)
			continue;
		h->released = 1;
		if (h->pins == 0)
			handles__free(t, fh);
	}
	pthread_mutex_unlock(&t->lock);
}

void fs_nodes__destroy(struct fs_nodes *t)
{
	if (t->node) {
		for (uint32_t id = FS_ROOT_ID + 1; id < t->nr_node; id++)
			if (t->node[id].used && t->node[id].fd >= 0)
				close(t->node[id].fd);
	}
	if (t->handle) {
		for (uint32_t fh = 1; fh < t->nr_handle; fh++)
			if (t->handle[fh].used && t->handle[fh].fd >= 0)
				close(t->handle[fh].fd);
	}
	free(t->node);
	free(t->bucket);
	free(t->handle);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}
