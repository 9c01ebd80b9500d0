/*
 * What makes a guest restored from a snapshot its own: the host's entropy
 * and wall clock, taken from START before anything of the container runs.
 * Two guests resumed from one snapshot share their random pool's state up
 * to that moment, so the host's bytes are added and the generator is
 * reseeded: in Linux 6.1, crediting entropy alone does not reseed a
 * generator that is already initialised (RNDRESEEDCRNG does). boot_id and
 * the TCP sequence secret are made on first use, after this. The clock
 * stood still in the file; the host's time is set. A fresh boot gets the
 * same, which does it no harm.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_proto.h"

static int add_entropy(const struct proto_field *f, char *err, size_t len)
{
	struct {
		struct rand_pool_info info;
		uint8_t bytes[AGENT_ENTROPY_LEN];
	} pool;
	int fd, ret = 0;

	if (f->len != AGENT_ENTROPY_LEN) {
		snprintf(err, len, "START's ENTROPY has %u bytes, not %d", f->len, AGENT_ENTROPY_LEN);
		return -1;
	}
	pool.info.entropy_count = AGENT_ENTROPY_LEN * 8;
	pool.info.buf_size = AGENT_ENTROPY_LEN;
	memcpy(pool.bytes, f->data, AGENT_ENTROPY_LEN);
	fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, &pool) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) {
		snprintf(err, len, "cannot seed the random generator: %s", strerror(errno));
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	explicit_bzero(&pool, sizeof(pool));
	return ret;
}

static int set_clock(const struct proto_field *f, char *err, size_t len)
{
	struct timespec ts;
	uint64_t sec = 0;
	uint32_t nsec = 0;

	if (f->len != AGENT_CLOCK_LEN) {
		snprintf(err, len, "START's CLOCK has %u bytes, not %d", f->len, AGENT_CLOCK_LEN);
		return -1;
	}
	for (int i = 7; i >= 0; i--)
		sec = sec << 8 | f->data[i];
	for (int i = 11; i >= 8; i--)
		nsec = nsec << 8 | f->data[i];
	if (nsec >= 1000000000u || sec > (uint64_t)INT64_MAX / 2) {
		snprintf(err, len, "START's CLOCK is not a time");
		return -1;
	}
	ts.tv_sec = (time_t)sec;
	ts.tv_nsec = (long)nsec;
	if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
		snprintf(err, len, "cannot set the clock: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int fresh_apply(const struct proto_msg *m, char *err, size_t len)
{
	const struct proto_field *entropy = proto_get(m, F_ENTROPY), *clock = proto_get(m, F_CLOCK);

	if (entropy && add_entropy(entropy, err, len) < 0)
		return -1;
	if (clock && set_clock(clock, err, len) < 0)
		return -1;
	return 0;
}
