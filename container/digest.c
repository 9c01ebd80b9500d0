#include <ctype.h>
#include <string.h>

#include <openssl/evp.h>

#include "digest.h"

struct digest {
	EVP_MD_CTX *ctx;
};

struct digest *digest_new(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return NULL;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return (struct digest *)ctx;
}

void digest_update(struct digest *d, const void *buf, size_t len)
{
	EVP_DigestUpdate((EVP_MD_CTX *)d, buf, len);
}

static void digest__hex(const unsigned char *md, char *hex)
{
	static const char x[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		hex[2 * i] = x[md[i] >> 4];
		hex[2 * i + 1] = x[md[i] & 15];
	}
	hex[DIGEST_HEX_LEN] = '\0';
}

void digest_hex(struct digest *d, char *hex)
{
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned int n = 0;

	/* Finish a copy, so the running digest is left as it was. */
	EVP_MD_CTX_copy_ex(copy, (EVP_MD_CTX *)d);
	EVP_DigestFinal_ex(copy, md, &n);
	EVP_MD_CTX_free(copy);
	digest__hex(md, hex);
}

void digest_free(struct digest *d)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)d);
}

void digest_string(const char *s, char *hex)
{
	unsigned char md[32];
	unsigned int n = 0;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
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
