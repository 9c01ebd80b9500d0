/*
 * POSIX ACLs from an archive entry as the xattrs the kernel keeps them in
 * (system.posix_acl_access and system.posix_acl_default): libarchive hands
 * ACLs over as ACL entries, not as xattrs, so without this they were lost.
 */
#ifndef PUPA_ACL_H
#define PUPA_ACL_H

#include <stddef.h>

struct archive_entry;

#define ACL_XATTR_MAX (4 + 8 * 1024)	/* version + 1024 entries */

/*
 * The value of the xattr for one ACL type (ARCHIVE_ENTRY_ACL_TYPE_ACCESS or
 * _DEFAULT): 0 and *len = 0 when the entry has none beyond its mode bits,
 * -1 with *why when it is not one the kernel would accept (as
 * posix_acl_valid() checks: one owner, owning group and other entry, no
 * user or group twice, a mask where there are named entries; a default
 * ACL only on a folder) or has more entries than fit.
 */
int acl_xattr_from_entry(struct archive_entry *e, int type, unsigned char *buf, size_t *len,
			 const char **why);

#endif
