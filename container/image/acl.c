/*
 * The Linux xattr form of a POSIX ACL: a little-endian u32 version (2),
 * then one {u16 tag, u16 perm, u32 id} per entry, sorted by tag, then id.
 * libext2fs turns it into ext4's own on-disk form when it is set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "acl.h"

#define ACL_USER_OBJ	0x01
#define ACL_USER	0x02
#define ACL_GROUP_OBJ	0x04
#define ACL_GROUP	0x08
#define ACL_MASK	0x10
#define ACL_OTHER	0x20
#define ACL_UNDEFINED_ID 0xffffffffu

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static int acl__cmp(const void *a, const void *b)
{
	const struct acl_ent *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int acl__tag(int t)
{
	switch (t) {
	case ARCHIVE_ENTRY_ACL_USER_OBJ: return ACL_USER_OBJ;
	case ARCHIVE_ENTRY_ACL_USER: return ACL_USER;
	case ARCHIVE_ENTRY_ACL_GROUP_OBJ: return ACL_GROUP_OBJ;
	case ARCHIVE_ENTRY_ACL_GROUP: return ACL_GROUP;
	case ARCHIVE_ENTRY_ACL_MASK: return ACL_MASK;
	case ARCHIVE_ENTRY_ACL_OTHER: return ACL_OTHER;
	}
	return 0;
}

static void acl__put(unsigned char *p, uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Sorted entries as the kernel's posix_acl_valid() wants them; NULL if so. */
static const char *acl__invalid(const struct acl_ent *ents, size_t n)
{
	unsigned int count[ACL_OTHER + 1] = { 0 };

	for (size_t i = 0; i < n; i++) {
		count[ents[i].tag]++;
		if ((ents[i].tag == ACL_USER || ents[i].tag == ACL_GROUP) && i > 0 &&
		    ents[i - 1].tag == ents[i].tag && ents[i - 1].id == ents[i].id)
			return ents[i].tag == ACL_USER ? "one user named twice" : "one group named twice";
	}
	if (count[ACL_USER_OBJ] != 1 || count[ACL_GROUP_OBJ] != 1 || count[ACL_OTHER] != 1)
		return "not exactly one owner, owning group and other entry";
	if (count[ACL_MASK] > 1)
		return "more than one mask entry";
	if ((count[ACL_USER] || count[ACL_GROUP]) && !count[ACL_MASK])
		return "named users or groups without a mask entry";
	return NULL;
}

int acl_xattr_from_entry(struct archive_entry *e, int type, unsigned char *buf, size_t *len,
			 const char **why)
{
	struct acl_ent ents[1024];
	size_t n = 0, named = 0;
	int etype, perm, tag, qual;
	const char *name;

	*len = 0;
	if (archive_entry_acl_reset(e, type) <= 0)
		return 0;
	while (archive_entry_acl_next(e, type, &etype, &perm, &tag, &qual, &name) == ARCHIVE_OK) {
		int t = acl__tag(tag);

		if (etype != type || !t)
			continue;	/* NFSv4 entries are another model */
		if (n == sizeof(ents) / sizeof(ents[0])) {
			*why = "more than 1024 entries";
			return -1;
		}
		ents[n].tag = (uint16_t)t;
		ents[n].perm = (uint16_t)(perm & 7);
		ents[n].id = (t == ACL_USER || t == ACL_GROUP) ? (uint32_t)qual : ACL_UNDEFINED_ID;
		named += t == ACL_USER || t == ACL_GROUP || t == ACL_MASK;
		n++;
	}
	/* An access ACL of the three base entries is the mode bits, nothing more. */
	if (n == 0 || (type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS && !named))
		return 0;
	qsort(ents, n, sizeof(ents[0]), acl__cmp);
	if ((*why = acl__invalid(ents, n)))
		return -1;
	if (type == ARCHIVE_ENTRY_ACL_TYPE_DEFAULT && archive_entry_filetype(e) != AE_IFDIR) {
		*why = "a default ACL on something other than a folder";
		return -1;
	}
	acl__put(buf, 2, 4);
	for (size_t i = 0; i < n; i++) {
		acl__put(buf + 4 + 8 * i, ents[i].tag, 2);
		acl__put(buf + 6 + 8 * i, ents[i].perm, 2);
		acl__put(buf + 8 + 8 * i, ents[i].id, 4);
	}
	*len = 4 + 8 * n;
	return 0;
}
