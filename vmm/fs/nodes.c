/* SPDX-License-Identifier: MIT */
#include "nodes.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FS_MAX_DEPTH	65536	/* closed ancestors opened again in one go */

int fs_openat2_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
			   RESOLVE_NO_SYMLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

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
	t->fd_budget = 1u << 30;
	return 0;
}

/* --- the descriptors' LRU list (nodes that can be opened again) ---------------- */

static void lru__unlink(struct fs_nodes *t, uint32_t id)
{
	struct fs_node *n = &t->node[id];

	if (n->lru_prev)
		t->node[n->lru_prev].lru_next = n->lru_next;
	else
		t->lru_head = n->lru_next;
	if (n->lru_next)
		t->node[n->lru_next].lru_prev = n->lru_prev;
	else
		t->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = 0;
}

static void lru__push(struct fs_nodes *t, uint32_t id)
{
	struct fs_node *n = &t->node[id];

	n->lru_prev = 0;
	n->lru_next = t->lru_head;
	if (t->lru_head)
		t->node[t->lru_head].lru_prev = id;
	t->lru_head = id;
	if (!t->lru_tail)
		t->lru_tail = id;
}

/* In the list: an open descriptor the node can do without. */
static int lru__member(const struct fs_nodes *t, uint32_t id)
{
	return t->node[id].name && t->node[id].fd >= 0;
}

static void lru__touch(struct fs_nodes *t, uint32_t id)
{
	if (lru__member(t, id) && t->lru_head != id) {
		lru__unlink(t, id);
		lru__push(t, id);
	}
}

/* A node took an open descriptor. */
static void lru__opened(struct fs_nodes *t, uint32_t id)
{
	if (t->node[id].name) {
		lru__push(t, id);
		t->open_fds++;
	}
}

/* Close the least recently used unpinned descriptors down to the budget. */
static void lru__evict(struct fs_nodes *t)
{
	uint32_t id = t->lru_tail;

	while (t->open_fds > t->fd_budget && id) {
		uint32_t prev = t->node[id].lru_prev;

		if (t->node[id].pins == 0) {
			lru__unlink(t, id);
			close(t->node[id].fd);
			t->node[id].fd = -1;
			t->open_fds--;
			t->evictions++;
		}
		id = prev;
	}
}

/* --- nodes ----------------------------------------------------------------------- */

static void nodes__unhash(struct fs_nodes *t, uint32_t id)
{
	struct fs_node *n = &t->node[id];
	uint32_t *p = &t->bucket[nodes__hash(n->dev, n->ino, n->vol)];

	while (*p && *p != id)
		p = &t->node[*p].next;
	if (*p)
		*p = n->next;
}

static int nodes__freeable(const struct fs_nodes *t, uint32_t id)
{
	const struct fs_node *n = &t->node[id];

	return id != FS_ROOT_ID && n->used && !n->nlookup && !n->pins && !n->kids;
}

/* Free the node, then each parent that only it kept. Lock held. */
static void nodes__free(struct fs_nodes *t, uint32_t id)
{
	while (id && nodes__freeable(t, id)) {
		struct fs_node *n = &t->node[id];
		uint32_t parent = n->parent;

		nodes__unhash(t, id);
		if (lru__member(t, id)) {
			lru__unlink(t, id);
			t->open_fds--;
		}
		if (n->fd >= 0)
			close(n->fd);
		free(n->name);
		*n = (struct fs_node){ .fd = -1, .next = t->free_node };
		t->free_node = id;
		t->live_nodes--;
		if (parent)
			t->node[parent].kids--;
		id = parent;
	}
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

/* Open node id's descriptor again, and its closed ancestors first, each
 * one name beneath its parent and checked to be the same inode. */
static int nodes__reopen(struct fs_nodes *t, uint32_t id)
{
	uint32_t *chain = NULL, n = 0, cap = 0;
	int ret = 0;

	for (uint32_t c = id; t->node[c].fd < 0; c = t->node[c].parent) {
		if (!t->node[c].name || !t->node[c].parent || n == FS_MAX_DEPTH) {
			ret = -ESTALE;
			break;
		}
		if (n == cap) {
			uint32_t *p = realloc(chain, (cap = cap ? 2 * cap : 16) * sizeof(*p));

			if (!p) {
				ret = -ENOMEM;
				break;
			}
			chain = p;
		}
		chain[n++] = c;
	}
	while (ret == 0 && n) {
		struct fs_node *c = &t->node[chain[--n]];
		int fd = fs_openat2_beneath(t->node[c->parent].fd, c->name, O_PATH, 0);
		struct stat st;

		if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_dev != c->dev || st.st_ino != c->ino)) {
			close(fd);
			fd = -ESTALE;	/* another file has that name now */
		}
		if (fd < 0) {
			ret = fd == -ENOENT ? -ESTALE : fd;
			break;
		}
		c->fd = fd;
		lru__opened(t, chain[n]);
		t->reopens++;
	}
	free(chain);
	return ret;
}

int64_t fs_nodes__lookup(struct fs_nodes *t, int fd, const struct stat *st, uint16_t vol,
			 uint64_t parent, const char *name)
{
	char *copy = NULL;
	uint32_t id, b;
	int ret = 0;

	if (name && !(copy = strdup(name))) {
		close(fd);
		return -ENOMEM;
	}
	b = nodes__hash(st->st_dev, st->st_ino, vol);
	pthread_mutex_lock(&t->lock);
	for (id = t->bucket[b]; id; id = t->node[id].next) {
		struct fs_node *n = &t->node[id];

		if (n->dev == st->st_dev && n->ino == st->st_ino && n->vol == vol)
			break;
	}
	if (id) {
		struct fs_node *n = &t->node[id];

		n->nlookup++;
		n->pins++;
		if (n->fd < 0) {	/* closed for the budget: take this one */
			n->fd = fd;
			fd = -1;
			lru__opened(t, id);
		}
		lru__touch(t, id);
		lru__evict(t);
		pthread_mutex_unlock(&t->lock);
		if (fd >= 0)
			close(fd);
		free(copy);
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
		free(copy);
		return ret;
	}
	if (parent >= t->nr_node || !t->node[parent].used)
		parent = 0;	/* a caller's pin keeps it; never happens */
	t->node[id] = (struct fs_node){ .fd = fd, .vol = vol, .used = 1, .type = st->st_mode & S_IFMT,
					.dev = st->st_dev, .ino = st->st_ino, .nlookup = 1, .pins = 1,
					.next = t->bucket[b], .parent = copy ? (uint32_t)parent : 0,
					.name = copy };
	if (t->node[id].parent)
		t->node[parent].kids++;
	t->bucket[b] = id;
	t->live_nodes++;
	lru__opened(t, id);
	lru__evict(t);
	pthread_mutex_unlock(&t->lock);
	return id;
}

void fs_nodes__moved(struct fs_nodes *t, dev_t dev, ino_t ino, uint16_t vol, uint64_t parent,
		     const char *name)
{
	char *copy = strdup(name);
	uint32_t id;

	pthread_mutex_lock(&t->lock);
	for (id = t->bucket[nodes__hash(dev, ino, vol)]; id; id = t->node[id].next)
		if (t->node[id].dev == dev && t->node[id].ino == ino && t->node[id].vol == vol)
			break;
	if (id && copy && t->node[id].name && parent < t->nr_node && t->node[parent].used &&
	    parent != id) {
		struct fs_node *n = &t->node[id];
		uint32_t old = n->parent;

		free(n->name);
		n->name = copy;
		copy = NULL;
		t->node[parent].kids++;
		n->parent = (uint32_t)parent;
		t->node[old].kids--;
		nodes__free(t, old);
	}
	pthread_mutex_unlock(&t->lock);
	free(copy);
}

int fs_nodes__get(struct fs_nodes *t, uint64_t id, struct fs_node *out)
{
	int ret = -ESTALE;

	pthread_mutex_lock(&t->lock);
	if (id > 0 && id < t->nr_node && t->node[id].used && (t->node[id].nlookup || id == FS_ROOT_ID)) {
		struct fs_node *n = &t->node[id];

		n->pins++;
		ret = (n->fd < 0 && id != FS_ROOT_ID) ? nodes__reopen(t, (uint32_t)id) : 0;
		if (ret < 0) {
			n->pins--;
		} else {
			lru__touch(t, (uint32_t)id);
			lru__evict(t);
			*out = *n;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void fs_nodes__put(struct fs_nodes *t, uint64_t id)
{
	pthread_mutex_lock(&t->lock);
	if (id > 0 && id < t->nr_node && t->node[id].used && t->node[id].pins) {
		t->node[id].pins--;
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
		nodes__free(t, (uint32_t)id);
	}
	pthread_mutex_unlock(&t->lock);
}

/* --- handles --------------------------------------------------------------------- */

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
	for (uint32_t id = FS_ROOT_ID + 1; id < t->nr_node; id++)
		if (t->node[id].used)
			t->node[id].nlookup = 0;
	/* Children first: a parent goes with its last child (nodes__free). */
	for (uint32_t id = FS_ROOT_ID + 1; id < t->nr_node; id++)
		nodes__free(t, id);
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
		for (uint32_t id = FS_ROOT_ID + 1; id < t->nr_node; id++) {
			if (t->node[id].used && t->node[id].fd >= 0)
				close(t->node[id].fd);
			if (t->node[id].used)
				free(t->node[id].name);
		}
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
