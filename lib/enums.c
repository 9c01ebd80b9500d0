#include "enums.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static const char *const type_names[PUPA_ENUM_TYPE_COUNT] = {
	[PUPA_GUEST_ERROR] = "GuestError",
	[PUPA_KERNEL_TYPE] = "KernelType",
	[PUPA_BLOCK_MODE] = "BlockMode",
	[PUPA_GUEST_MANAGER_ERROR] = "GuestManagerError",
	[PUPA_GUEST_STATUS] = "GuestStatus",
	[PUPA_CONTAINER_STATUS] = "ContainerStatus",
};

#define E(t, n, v, s) { PUPA_##t, n, v, s }

static const struct pupa_enum_entry table[] = {
	E(GUEST_ERROR, "kInternalError", 1, "catch-all VMM error"),
	E(GUEST_ERROR, "kDeviceNotPresent", 2, "the requested device is not enabled"),
	E(GUEST_ERROR, "kBadConfig", 3, "the configuration failed VMM validation"),
	E(GUEST_ERROR, "kGuestInitializationFailure", 4, "the VMM failed to initialize the guest"),
	E(GUEST_ERROR, "kDeviceInitializationFailure", 5, "the VMM failed to initialize a device"),
	E(GUEST_ERROR, "kDeviceStartFailure", 6, "the VMM failed to start a device"),
	E(GUEST_ERROR, "kDeviceMemoryOverlap", 7, "two or more devices registered overlapping memory ranges"),
	E(GUEST_ERROR, "kFailedServiceConnect", 8, "failed to connect to a required service"),
	E(GUEST_ERROR, "kDuplicatePublicServices", 9, "failed to add a public service"),
	E(GUEST_ERROR, "kKernelLoadFailure", 10, "the guest kernel could not be loaded"),
	E(GUEST_ERROR, "kVcpuStartFailure", 11, "a vCPU could not be started"),
	E(GUEST_ERROR, "kVcpuRuntimeFailure", 12, "a vCPU hit a fatal error while running"),
	E(GUEST_ERROR, "kNotCreated", 13, "the VMM was asked to run before it was created"),
	E(GUEST_ERROR, "kAlreadyRunning", 14, "a VMM is already running"),
	E(GUEST_ERROR, "kControllerForcedHalt", 15, "the VMM was forced to stop by its controller"),

	E(KERNEL_TYPE, "kZircon", 0, "Zircon kernel"),
	E(KERNEL_TYPE, "kLinux", 1, "Linux kernel"),

	E(BLOCK_MODE, "kReadWrite", 0, "reads and writes are allowed"),
	E(BLOCK_MODE, "kReadOnly", 1, "only reads are allowed"),
	E(BLOCK_MODE, "kVolatileWrite", 2, "writes are kept in memory, not on disk"),

	E(GUEST_MANAGER_ERROR, "kBadConfig", 1, "the guest configuration is invalid"),
	E(GUEST_MANAGER_ERROR, "kAlreadyRunning", 2, "the guest is already running"),
	E(GUEST_MANAGER_ERROR, "kNotRunning", 3, "the guest is not running"),
	E(GUEST_MANAGER_ERROR, "kStartFailure", 4, "the guest failed to start"),
	E(GUEST_MANAGER_ERROR, "kNoStorage", 5, "persistent storage could not be allocated"),

	E(GUEST_STATUS, "kNotStarted", 1, "not started yet"),
	E(GUEST_STATUS, "kStarting", 2, "launching"),
	E(GUEST_STATUS, "kRunning", 3, "running"),
	E(GUEST_STATUS, "kStopping", 4, "stopping"),
	E(GUEST_STATUS, "kStopped", 5, "stopped"),
	E(GUEST_STATUS, "kVmmUnexpectedTermination", 6, "the VMM terminated unexpectedly"),

	E(CONTAINER_STATUS, "kTransient", 1, "transient"),
	E(CONTAINER_STATUS, "kLaunchingGuest", 2, "launching the guest"),
	E(CONTAINER_STATUS, "kStartingVm", 3, "starting the VM"),
	E(CONTAINER_STATUS, "kDownloading", 4, "downloading"),
	E(CONTAINER_STATUS, "kExtracting", 5, "extracting"),
	E(CONTAINER_STATUS, "kStarting", 6, "starting the container"),
	E(CONTAINER_STATUS, "kReady", 7, "ready"),
	E(CONTAINER_STATUS, "kFailed", 8, "failed"),
};

const char *pupa_enum_type_name(enum pupa_enum_type type)
{
	if ((unsigned int)type >= PUPA_ENUM_TYPE_COUNT)
		return "Unknown";
	return type_names[type];
}

const struct pupa_enum_entry *pupa_enum_find(enum pupa_enum_type type, uint32_t value)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].type == type && table[i].value == value)
			return &table[i];
	return NULL;
}

const char *pupa_enum_name(enum pupa_enum_type type, uint32_t value)
{
	const struct pupa_enum_entry *e = pupa_enum_find(type, value);

	return e ? e->name : "kUnknown";
}

const char *pupa_enum_human(enum pupa_enum_type type, uint32_t value)
{
	return pupa_enum_name(type, value) + 1;
}

int pupa_enum_lookup(enum pupa_enum_type type, const char *name, uint32_t *value)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].type != type)
			continue;
		if (strcmp(table[i].name, name) == 0 || strcmp(table[i].name + 1, name) == 0) {
			*value = table[i].value;
			return 0;
		}
	}
	return -ENOENT;
}

const struct pupa_enum_entry *pupa_enum_table(unsigned int *count)
{
	*count = sizeof(table) / sizeof(table[0]);
	return table;
}
