/*
 * SHA-256 from nettle, which libarchive loads anyway: OpenSSL's libcrypto
 * (21000 relocations) would be loaded at every start for this alone.
 * Both use the SHA instructions where the CPU has them.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "digest.h"

struct digest {
	struct sha256_ctx ctx;
};

struct digest *digest_new(void)
{
	struct digest *d = malloc(sizeof(*d));

	if (d)
		sha256_init(&d->ctx);
	return d;
}

void digest_update(struct digest *d, const void *buf, size_t len)
{
	sha256_update(&d->ctx, len, buf);
}

static void digest__hex(const unsigned char *md, char *hex)
{
	static const char x[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
		hex[2 * i] = x[md[i] >> 4];
		hex[2 * i + 1] = x[md[i] & 15];
	}
	hex[DIGEST_HEX_LEN] = '\0';
}

void digest_hex(struct digest *d, char *hex)
{
	/* Finish a copy (nettle's digest resets the context it finishes),
	 * so the running digest is left as it was. */
	struct sha256_ctx copy = d->ctx;
	unsigned char md[SHA256_DIGEST_SIZE];

	sha256_digest(&copy, sizeof(md), md);
	digest__hex(md, hex);
}

void digest_free(struct digest *d)
{
	free(d);
}

void digest_string(const char *s, char *hex)
{
	struct sha256_ctx ctx;
	unsigned char md[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, strlen(s), (const uint8_t *)s);
	sha256_digest(&ctx, sizeof(md), md);
	digest__hex(md, hex);
}

int digest_parse(const char *in, char *hex)
{
	for (int i = 0; i < DIGEST_HEX_LEN; i++) {
		if (!isxdigit((unsigned char)in[i]))
			return -1;
		hex[i] = (char)tolower((unsigned char)in[i]);
	}
	if (in[DIGEST_HEX_LEN] != '\0')
		return -1;
	hex[DIGEST_HEX_LEN] = '\0';
	return 0;
}
