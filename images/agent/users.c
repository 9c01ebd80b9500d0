/*
 * -u USER as Docker reads it: name, uid, name:group or uid:gid, looked up
 * in the container's own /etc/passwd and /etc/group (pupa-init is static:
 * no NSS). A numeric uid without an entry runs with gid 0 and HOME=/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static int numeric(const char *s, unsigned long *v)
{
	char *end;

	if (!*s)
		return 0;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return !*end && !errno && *v <= 0xfffffffeUL;
}

/* Split one passwd/group line into up to max ':' fields, in place. */
static int split(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ':') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

static int lookup_user(const char *root, const char *name, unsigned long uid, int by_uid,
		       struct creds *c, char *uname, size_t ulen)
{
	char path[256], line[1024], *f[7];
	FILE *fp;
	int found = 0;

	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	fp = fopen(path, "r");
	while (fp && !found && fgets(line, sizeof(line), fp)) {
		unsigned long u, g;

		if (split(line, f, 7) < 7 || !numeric(f[2], &u) || !numeric(f[3], &g))
			continue;
		if (by_uid ? u != uid : strcmp(f[0], name) != 0)
			continue;
		c->uid = (uid_t)u;
		c->gid = (gid_t)g;
		snprintf(c->home, sizeof(c->home), "%s", *f[5] ? f[5] : "/");
		snprintf(uname, ulen, "%s", f[0]);
		found = 1;
	}
	if (fp)
		fclose(fp);
	return found;
}

/* A group by name or number; also collects uname's supplementary groups. */
static int scan_groups(const char *root, const char *gname, gid_t *gid, const char *uname,
		       struct creds *c)
{
	char path[256], line[4096], *f[4];
	FILE *fp;
	int found = 0;

	snprintf(path, sizeof(path), "%s/etc/group", root);
	fp = fopen(path, "r");
	while (fp && fgets(line, sizeof(line), fp)) {
		unsigned long g;

		if (split(line, f, 4) < 4 || !numeric(f[2], &g))
			continue;
		if (gname && strcmp(f[0], gname) == 0) {
			*gid = (gid_t)g;
			found = 1;
		}
		if (*uname) {
			for (char *m = strtok(f[3], ","); m; m = strtok(NULL, ","))
				if (strcmp(m, uname) == 0 && c->ngroups < CREDS_MAX_GROUPS)
					c->groups[c->ngroups++] = (gid_t)g;
		}
	}
	if (fp)
		fclose(fp);
	return found;
}

int creds_resolve(const char *root, const char *spec, struct creds *c, char *err, size_t len)
{
	char user[256], uname[64] = "", *group;
	unsigned long id;

	memset(c, 0, sizeof(*c));
	snprintf(c->home, sizeof(c->home), "/root");
	if (!spec || !*spec)
		spec = "root";
	snprintf(user, sizeof(user), "%s", spec);
	group = strchr(user, ':');
	if (group)
		*group++ = '\0';

	if (numeric(user, &id)) {
		if (!lookup_user(root, NULL, id, 1, c, uname, sizeof(uname))) {
			c->uid = (uid_t)id;
			c->gid = 0;
			snprintf(c->home, sizeof(c->home), "/");
		}
	} else if (!lookup_user(root, user, 0, 0, c, uname, sizeof(uname))) {
		if (strcmp(user, "root") == 0) {	/* an image without /etc/passwd */
			c->uid = 0;
			c->gid = 0;
		} else {
			snprintf(err, len, "unable to find user %s: no matching entries in passwd file", user);
			return -1;
		}
	}
	if (group && *group) {
		gid_t gid;

		if (numeric(group, &id)) {
			c->gid = (gid_t)id;
			scan_groups(root, NULL, &gid, uname, c);
		} else if (scan_groups(root, group, &gid, uname, c)) {
			c->gid = gid;
		} else {
			snprintf(err, len, "unable to find group %s: no matching entries in group file", group);
			return -1;
		}
	} else {
		gid_t unused;

		scan_groups(root, NULL, &unused, uname, c);
	}
	return 0;
}
