/*
 * pupa-vmm's command line: parsed and validated without touching KVM, so
 * every mistake is a BadConfig that names the flag before anything starts.
 */
#ifndef PUPA_VMM_CONFIG_H
#define PUPA_VMM_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "enums.h"
#include "error.h"
#include "publish.h"
#include "vm_fdt.h"

#define VMM_MAX_BOOT_PROPS	64
#define VMM_MAX_DISKS		8
#define VMM_MAX_ATTACH_DIRS	8
#define VMM_MAX_VOLUMES		64
#define VMM_MAX_CPUS		32
#define VMM_SNAPSHOT_KEY_LEN	32
#define VMM_MIN_MEMORY_MIB	32
#define VMM_MAX_MEMORY_MIB	(1024 * 1024)
#define VMM_DEFAULT_MEMORY_MIB	256
#define VMM_DEFAULT_CMDLINE	"console=ttyS0"
/* Always first, so a reboot or a panic ends the VMM (the user may override). */
#define VMM_FIXED_CMDLINE	"reboot=k panic=-1"

enum vmm_action { VMM_RUN, VMM_HELP, VMM_VERSION };

enum vmm_net { VMM_NET_NONE, VMM_NET_SLIRP };

/* A --disk (path set) or a --disk-slot (path NULL: empty until attached). */
struct vmm_disk {
	char *path;
	enum block_mode mode;
	char serial[21];
};

struct vmm_config {
	enum vmm_action action;
	const char *kernel;
	const char *initrd;
	const char *cmdline;	/* as given, or the default */
	char *full_cmdline;	/* VMM_FIXED_CMDLINE + cmdline; owned */
	uint64_t memory_mib;
	unsigned int cpus;
	const char *serial;
	struct boot_prop props[VMM_MAX_BOOT_PROPS];
	char *prop_storage[VMM_MAX_BOOT_PROPS];
	unsigned int nr_props;
	struct vmm_disk disks[VMM_MAX_DISKS];
	unsigned int nr_disks;
	uint64_t vsock_cid;	/* 0: no vsock device */
	const char *vsock_uds;
	const char *control;	/* control socket path, or NULL */
	const char *exit_record;	/* --exit-record: the exit event's file, or NULL */
	/* Folders whose files an "attach" by path may open once the guest
	 * runs (Landlock); a medium passed as a descriptor needs none. */
	const char *attach_dirs[VMM_MAX_ATTACH_DIRS];
	unsigned int nr_attach_dirs;
	enum vmm_net net;	/* VMM_NET_NONE: no network device */
	int allow_host_loopback;
	struct port_publish publish[PUBLISH_MAX];
	unsigned int nr_publish;
	const char *fs_tag;	/* NULL: no virtio-fs device */
	const char *volumes[VMM_MAX_VOLUMES];	/* its root's entries 0, 1, ... */
	int volume_ro[VMM_MAX_VOLUMES];
	char *volume_storage[VMM_MAX_VOLUMES];
	unsigned int nr_volumes;
	int fs_owner_host;	/* --fs-owner host */
	const char *restore;	/* --restore: a snapshot instead of a boot */
	uint8_t snapshot_key[VMM_SNAPSHOT_KEY_LEN];	/* all zeros unless given */
};

/* 0 on success (see cfg->action), or -GUEST_ERR_BAD_CONFIG with err set. */
int vmm_config__parse(struct vmm_config *cfg, int argc, char *const argv[],
		      struct pupa_err *err);
void vmm_config__free(struct vmm_config *cfg);
void vmm_config__usage(FILE *out);

#endif
