#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The length of the UTF-8 sequence at s, 0 if it is not a valid one. */
static int utf8_len(const unsigned char *s, uint32_t *cp)
{
	int n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		*cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		*cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	return n;
}

void pupa_text_sanitize(char *text)
{
	unsigned char *s = (unsigned char *)text;

	while (*s) {
		uint32_t cp;
		int n;

		if (*s < 0x20 || *s == 0x7f) {
			*s++ = '?';
			continue;
		}
		if (*s < 0x80) {
			s++;
			continue;
		}
		n = utf8_len(s, &cp);
		if (n == 0) {
			*s++ = '?';
			continue;
		}
		/* C1 controls (U+0080 to U+009F) act like ESC on many terminals. */
		if (cp >= 0x80 && cp <= 0x9f)
			memset(s, '?', (size_t)n);
		s += n;
	}
}

int pupa_err_set(struct pupa_err *err, enum pupa_enum_type type, uint32_t code,
		 const char *fmt, ...)
{
	va_list ap;

	if (err && err->code == 0) {
		err->type = type;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		pupa_text_sanitize(err->msg);
	}
	return -(int)code;
}

void pupa_err_format(const struct pupa_err *err, char *buf, unsigned long len)
{
	/* The problem first; the seed's name for it is for whoever looks it up. */
	snprintf(buf, len, "%s (%s, %s %u)", err->msg, pupa_enum_human(err->type, err->code),
		 pupa_enum_type_name(err->type), err->code);
}

int pupa_why(char *why, unsigned long len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	pupa_text_sanitize(why);
	return err;
}
