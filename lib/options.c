/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "options.h"

/* "--name=value" or "--name" -> "--name", at most len - 1 bytes. */
static void options__word(const char *arg, char *out, size_t len)
{
	size_t n = strcspn(arg, "=");

	if (n > len - 1)
		n = len - 1;
	memcpy(out, arg, n);
	out[n] = '\0';
}

static int options__known(const struct option *longopts, const char *name)
{
	for (; longopts->name; longopts++)
		if (strcmp(longopts->name, name) == 0)
			return 1;
	return 0;
}

/* The word that held the long option just returned by getopt_long. */
static const char *options__long_word(char *const argv[])
{
	/* With its value as the next word, optarg is that word itself;
	 * with "--name=value" it points inside the option's own word. */
	if (optarg && optind >= 2 && optarg == argv[optind - 1])
		return argv[optind - 2];
	return argv[optind - 1];
}

int pupa_getopt(int argc, char *const argv[], const char *shortopts,
		const struct option *longopts, struct pupa_opt_bad *bad)
{
	char spec[128];
	int c, index = -1;
	const char *word;

	/* ':' first (after a '+'): a missing value is told apart from an
	 * unknown option. */
	if (shortopts[0] == '+')
		snprintf(spec, sizeof(spec), "+:%s", shortopts + 1);
	else
		snprintf(spec, sizeof(spec), ":%s", shortopts);
	opterr = 0;
	optopt = 0;
	c = getopt_long(argc, argv, spec, longopts, &index);
	if (c == -1)
		return -1;
	if (c == '?' || c == ':') {
		const char *last = optind >= 1 ? argv[optind - 1] : "";

		/* GNU getopt sets optopt to 0 for an unknown long option, to
		 * the character for a short one, and to the option's value
		 * for a long option missing its value or given one it does
		 * not take ("--tty=1"): that word is the last one taken. */
		if (strncmp(last, "--", 2) == 0 && (c == ':' || !optopt || strchr(last, '='))) {
			options__word(last, bad->word, sizeof(bad->word));
			/* A prefix missing its value is a prefix all the same. */
			if (!options__known(longopts, bad->word + 2))
				return PUPA_OPT_UNKNOWN;
			return c == ':' ? PUPA_OPT_NO_VALUE : PUPA_OPT_HAS_VALUE;
		}
		snprintf(bad->word, sizeof(bad->word), "-%c", optopt);
		return c == ':' ? PUPA_OPT_NO_VALUE : PUPA_OPT_UNKNOWN;
	}
	if (index < 0)
		return c;	/* a short option */
	word = options__long_word(argv);
	options__word(word, bad->word, sizeof(bad->word));
	if (strcmp(bad->word + 2, longopts[index].name) != 0)
		return PUPA_OPT_UNKNOWN;	/* a prefix of the name */
	bad->word[0] = '\0';
	return c;
}

void pupa_opt_report(const char *prog, const char *cmd, int code, const struct pupa_opt_bad *bad)
{
	fprintf(stderr, "%s: %s '%s'%s (see '%s%s%s --help')\n", prog,
		code == PUPA_OPT_UNKNOWN ? "unknown option" : "option", bad->word,
		code == PUPA_OPT_NO_VALUE ? " needs a value" :
		code == PUPA_OPT_HAS_VALUE ? " takes no value" : "", prog, cmd ? " " : "",
		cmd ? cmd : "");
}
