/*
 * The checksum of a built image file, recorded when it is published and
 * compared by a verify. Its data extents are cut into pieces of at most
 * SUM_PIECE bytes; each piece's SHA-256 covers its offset, its length and
 * its bytes (holes cost nothing to skip, and a hole that turned into zeros,
 * or the reverse, still changes the sum), and the sum is the SHA-256 of the
 * file's size and the pieces' digests in order. The pieces do not depend on
 * each other, so one thread per CPU (up to SUM_THREADS) hashes them, and the
 * sum is the same whatever their number: measured on two cores, a 240 MiB
 * image took 0.146 s as one SHA-256 stream, the last serial step of a pull.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "image_sum.h"

#define SUM_PIECE	(16ull << 20)
#define SUM_READ	(1u << 20)
#define SUM_THREADS	8

struct sum_piece {
	uint64_t off, len;
	char hex[DIGEST_HEX_LEN + 1];
};

struct sum_job {
	int fd;
	struct sum_piece *piece;
	size_t n;
	atomic_size_t next;
	atomic_int err;			/* the first -errno */
};

/* The pieces of the file's data extents, in order. */
static int sum__pieces(int fd, struct sum_piece **out, size_t *n)
{
	struct sum_piece *p = NULL;
	size_t cap = 0, count = 0;
	off_t data = 0, hole;

	while ((data = lseek(fd, data, SEEK_DATA)) >= 0) {
		if ((hole = lseek(fd, data, SEEK_HOLE)) < 0)
			break;
		for (; data < hole; count++) {
			uint64_t len = (uint64_t)(hole - data);

			if (count == cap) {
				struct sum_piece *q = realloc(p, (cap = cap ? 2 * cap : 64) * sizeof(*p));

				if (!q) {
					free(p);
					return -ENOMEM;
				}
				p = q;
			}
			p[count].off = (uint64_t)data;
			p[count].len = len > SUM_PIECE ? SUM_PIECE : len;
			data += (off_t)p[count].len;
		}
	}
	if (errno != ENXIO) {
		int e = -errno;

		free(p);
		return e;
	}
	*out = p;
	*n = count;
	return 0;
}

static int sum__piece(int fd, struct sum_piece *p, uint8_t *buf)
{
	struct digest *d = digest_new();
	uint64_t head[2] = { htole64(p->off), htole64(p->len) }, done = 0;

	if (!d)
		return -ENOMEM;
	digest_update(d, head, sizeof(head));
	while (done < p->len) {
		size_t want = p->len - done > SUM_READ ? SUM_READ : (size_t)(p->len - done);
		ssize_t r = pread(fd, buf, want, (off_t)(p->off + done));

		if (r <= 0) {
			digest_free(d);
			return r < 0 ? -errno : -EIO;
		}
		digest_update(d, buf, (size_t)r);
		done += (uint64_t)r;
	}
	digest_hex(d, p->hex);
	digest_free(d);
	return 0;
}

static void *sum__worker(void *opaque)
{
	struct sum_job *j = opaque;
	uint8_t *buf = malloc(SUM_READ);
	size_t i;

	if (!buf) {
		atomic_store(&j->err, -ENOMEM);
		return NULL;
	}
	while (!atomic_load(&j->err) && (i = atomic_fetch_add(&j->next, 1)) < j->n) {
		int ret = sum__piece(j->fd, &j->piece[i], buf);

		if (ret < 0) {
			int none = 0;

			atomic_compare_exchange_strong(&j->err, &none, ret);
		}
	}
	free(buf);
	return NULL;
}

int image_sum(int fd, uint64_t *size, char *hex)
{
	struct sum_job j = { .fd = fd };
	pthread_t tid[SUM_THREADS];
	unsigned int nt = 0, want;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct digest *d;
	struct stat st;
	uint64_t le;
	int ret;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((ret = sum__pieces(fd, &j.piece, &j.n)) < 0)
		return ret;
	want = cpus < 1 ? 1 : cpus > SUM_THREADS ? SUM_THREADS : (unsigned int)cpus;
	if (want > j.n)
		want = j.n ? (unsigned int)j.n : 1;
	/* The calling thread is one of them. */
	while (nt + 1 < want && pthread_create(&tid[nt], NULL, sum__worker, &j) == 0)
		nt++;
	sum__worker(&j);
	while (nt)
		pthread_join(tid[--nt], NULL);
	ret = atomic_load(&j.err);
	if (ret == 0 && !(d = digest_new()))
		ret = -ENOMEM;
	if (ret == 0) {
		*size = (uint64_t)st.st_size;
		le = htole64(*size);
		digest_update(d, &le, sizeof(le));
		for (size_t i = 0; i < j.n; i++)
			digest_update(d, j.piece[i].hex, DIGEST_HEX_LEN);
		digest_hex(d, hex);
		digest_free(d);
	}
	free(j.piece);
	return ret;
}
