/* SPDX-License-Identifier: MIT */
/*
 * getopt_long with whole option names only. GNU getopt_long expands any
 * unambiguous prefix ("--init" is read as "--initrd"), so a Docker user's
 * --init or --mem quietly became another option. Every pupa program parses
 * through pupa_getopt: a prefix is as unknown as a misspelling, and the
 * caller gets the word the user typed to quote in its one-line error.
 */
#ifndef PUPA_OPTIONS_H
#define PUPA_OPTIONS_H

#include <getopt.h>

/* What pupa_getopt returns besides an option's value. */
enum {
	PUPA_OPT_UNKNOWN = -2,	/* not an option, or only part of one's name */
	PUPA_OPT_NO_VALUE = -3,	/* an option that takes a value came without one */
	PUPA_OPT_HAS_VALUE = -4,	/* "--tty=1": one that takes none came with one */
};

struct pupa_opt_bad {
	char word[128];		/* the option as typed, without "=VALUE" */
};

/*
 * As getopt_long (shortopts as getopt's, "+" first to stop at the first
 * word that is not an option; pupa_getopt adds the ':' behaviour itself):
 * an option's value, -1 at the end, or one of the codes above with bad
 * filled in. Sets opterr to 0: the caller prints the error.
 */
int pupa_getopt(int argc, char *const argv[], const char *shortopts,
		const struct option *longopts, struct pupa_opt_bad *bad);

/*
 * The one line for a code above, on stderr:
 * "pupa: unknown option '--init' (see 'pupa start --help')"; cmd may be NULL.
 */
void pupa_opt_report(const char *prog, const char *cmd, int code, const struct pupa_opt_bad *bad);

#endif
