/*
 * What pupa start needs besides itself: pupa-vmm, the guest kernel, the
 * initramfs and the default image. Installed, they are in $(bindir) and
 * $(pkgdatadir); run from the build tree, next to it; PUPA_DATADIR and
 * PUPA_VMM override both.
 */
#ifndef PUPA_DATADIR_H
#define PUPA_DATADIR_H

#include "error.h"

struct datadir {
	char vmm[4096];
	char kernel[4096];
	char initrd[4096];
	char default_image[4096];
};

int datadir_find(struct datadir *d, struct pupa_err *err);

#endif
