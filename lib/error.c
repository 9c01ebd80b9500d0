#include "error.h"

#include <stdarg.h>
#include <stdio.h>

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
	}
	return -(int)code;
}

void pupa_err_format(const struct pupa_err *err, char *buf, unsigned long len)
{
	snprintf(buf, len, "%s (%s %u): %s", pupa_enum_human(err->type, err->code),
		 pupa_enum_type_name(err->type), err->code, err->msg);
}

int pupa_why(char *why, unsigned long len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}
