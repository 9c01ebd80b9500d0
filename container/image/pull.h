/*
 * The root filesystem pipeline: a source's bytes flow once through SHA-256
 * into libarchive and straight into an ext4 image, published in the cache
 * under the digest. Two threads: the producer (download, or read of a local
 * file) tees the bytes to a file and hashes them; the extractor reads that
 * file behind it and writes the image. The tee file doubles as the buffer
 * between them and as the partial download an interrupted pull resumes.
 */
#ifndef PUPA_PULL_H
#define PUPA_PULL_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "cache.h"
#include "error.h"
#include "unpack.h"

enum pull_verify { PULL_VERIFY_NO, PULL_VERIFY_CHECKSUM };

struct pull_progress {
	enum container_status stage;	/* kDownloading or kExtracting */
	uint64_t bytes;
	uint64_t total;			/* 0: unknown */
	double rate_bps;
	double eta_s;			/* < 0: unknown */
	int done;			/* the stage has ended */
	const char *note;		/* "cached", "resuming at ...", ... or NULL */
	unsigned int layer, layers;	/* a layered image: layer i of n (0 of 0: none) */
};

struct pull_options {
	const char *image;		/* IMAGE as the user typed it (reference.h) */
	const char *platform;		/* a layered image's OS/ARCH[/VARIANT]; NULL: this host's */
	const char *insecure_registries;	/* HOST[:PORT],... that may use plain http */
	const char *sha256;		/* expected digest, or NULL */
	enum pull_verify verify;
	uint64_t image_size;		/* 0: sized from the archive */
	struct unpack_limits limits;
	unsigned int retries;
	unsigned int stall_s;
	void (*progress)(void *opaque, const struct pull_progress *p);
	void *opaque;
	volatile sig_atomic_t *interrupted;
};

struct pull_result {
	char digest[DIGEST_HEX_LEN + 1];
	char image_path[4200];
	int cached;			/* nothing was downloaded */
	uint64_t compressed;
	uint64_t entries;
	int interrupted;		/* stopped by *interrupted (err says so too) */
	enum container_status failed_stage;	/* kDownloading or kExtracting */
};

void pull_options_default(struct pull_options *o);

/* Wait on cond (lock held) for 100 ms at most: a tick of progress reporting. */
void pull_wait_tick(pthread_cond_t *cond, pthread_mutex_t *lock);

/*
 * How large an image must be able to grow for total compressed bytes of
 * archive (0: unknown), and how many inodes to give it (0: mke2fs's ratio).
 */
uint64_t pull_image_bound(const struct pull_options *o, uint64_t total, uint64_t *inodes);

/*
 * Pull o->image into the cache; the name it was pulled by (pull_canonical)
 * is the image's from now on, and no other image's.
 */
int pull_image(const struct cache *c, const struct pull_options *o, struct pull_result *r,
	       struct pupa_err *err);

/*
 * IMAGE as the cache records its name: a tarball's URL or absolute path, a
 * layout's oci:/absolute/dir[:ref] (and so for oci-archive:, docker-archive:),
 * a registry reference in full (alpine -> docker.io/library/alpine:latest),
 * anything else as typed.
 */
void pull_canonical(const char *image, char *out, size_t len);

/* A platform pupa-vmm runs (NULL: this host's, so yes)? Else an error
 * naming what (--platform, an image) and the platform it can run. */
int pull_platform_runnable(const char *platform, const char *what, struct pupa_err *err);

/* The image can run here (its platform is pupa-vmm's, or unknown); else
 * an error naming the platform it is for and the one pupa-vmm runs. */
int pull_check_runnable(const struct cache *c, const char *digest, const char *image,
			struct pupa_err *err);

#endif
