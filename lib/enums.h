/*
 * The seed's enums (fuchsia.virtualization): one table holds every
 * enumerator with its type and value, so machine-readable output always
 * carries the exact seed name and humans see it without the leading 'k'.
 */
#ifndef PUPA_ENUMS_H
#define PUPA_ENUMS_H

#include <stdint.h>

enum pupa_enum_type {
	PUPA_GUEST_ERROR,
	PUPA_KERNEL_TYPE,
	PUPA_BLOCK_MODE,
	PUPA_GUEST_MANAGER_ERROR,
	PUPA_GUEST_STATUS,
	PUPA_CONTAINER_STATUS,
	PUPA_ENUM_TYPE_COUNT
};

enum guest_error {
	GUEST_ERR_INTERNAL = 1,
	GUEST_ERR_DEVICE_NOT_PRESENT = 2,
	GUEST_ERR_BAD_CONFIG = 3,
	GUEST_ERR_GUEST_INITIALIZATION = 4,
	GUEST_ERR_DEVICE_INITIALIZATION = 5,
	GUEST_ERR_DEVICE_START = 6,
	GUEST_ERR_DEVICE_MEMORY_OVERLAP = 7,
	GUEST_ERR_FAILED_SERVICE_CONNECT = 8,
	GUEST_ERR_DUPLICATE_PUBLIC_SERVICES = 9,
	GUEST_ERR_KERNEL_LOAD = 10,
	GUEST_ERR_VCPU_START = 11,
	GUEST_ERR_VCPU_RUNTIME = 12,
	GUEST_ERR_NOT_CREATED = 13,
	GUEST_ERR_ALREADY_RUNNING = 14,
	GUEST_ERR_CONTROLLER_FORCED_HALT = 15,
};

enum kernel_type { KERNEL_TYPE_ZIRCON = 0, KERNEL_TYPE_LINUX = 1 };

enum block_mode {
	BLOCK_MODE_READ_WRITE = 0,
	BLOCK_MODE_READ_ONLY = 1,
	BLOCK_MODE_VOLATILE_WRITE = 2,
};

enum guest_manager_error {
	GUEST_MANAGER_ERR_BAD_CONFIG = 1,
	GUEST_MANAGER_ERR_ALREADY_RUNNING = 2,
	GUEST_MANAGER_ERR_NOT_RUNNING = 3,
	GUEST_MANAGER_ERR_START_FAILURE = 4,
	GUEST_MANAGER_ERR_NO_STORAGE = 5,
};

enum guest_status {
	GUEST_STATUS_NOT_STARTED = 1,
	GUEST_STATUS_STARTING = 2,
	GUEST_STATUS_RUNNING = 3,
	GUEST_STATUS_STOPPING = 4,
	GUEST_STATUS_STOPPED = 5,
	GUEST_STATUS_VMM_UNEXPECTED_TERMINATION = 6,
};

enum container_status {
	CONTAINER_STATUS_TRANSIENT = 1,
	CONTAINER_STATUS_LAUNCHING_GUEST = 2,
	CONTAINER_STATUS_STARTING_VM = 3,
	CONTAINER_STATUS_DOWNLOADING = 4,
	CONTAINER_STATUS_EXTRACTING = 5,
	CONTAINER_STATUS_STARTING = 6,
	CONTAINER_STATUS_READY = 7,
	CONTAINER_STATUS_FAILED = 8,
};

struct pupa_enum_entry {
	enum pupa_enum_type type;
	const char *name;	/* the seed's enumerator, e.g. "kBadConfig" */
	uint32_t value;
	const char *summary;	/* one line, from the seed's comment */
};

/* "GuestError", "BlockMode", ... */
const char *pupa_enum_type_name(enum pupa_enum_type type);

/* The entry for (type, value), or NULL when the seed has no such value. */
const struct pupa_enum_entry *pupa_enum_find(enum pupa_enum_type type, uint32_t value);

/* The seed name ("kBadConfig"), or "kUnknown" for a value outside the seed. */
const char *pupa_enum_name(enum pupa_enum_type type, uint32_t value);

/* The name for people ("BadConfig"): the seed name without its 'k'. */
const char *pupa_enum_human(enum pupa_enum_type type, uint32_t value);

/*
 * Look a name up within one type; "kReadOnly" and "ReadOnly" both match.
 * Returns 0 and stores the value, or -ENOENT.
 */
int pupa_enum_lookup(enum pupa_enum_type type, const char *name, uint32_t *value);

/* Iterate over the whole table: entries [0, *count). */
const struct pupa_enum_entry *pupa_enum_table(unsigned int *count);

#endif
