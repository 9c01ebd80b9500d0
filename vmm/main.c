/*
 * pupa-vmm: a standalone VMM that boots a Linux kernel on KVM.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "vm.h"

static void report(const struct pupa_err *err)
{
	char line[1024];

	pupa_err_format(err, line, sizeof(line));
	fprintf(stderr, "pupa-vmm: %s\n", line);
}

int main(int argc, char *argv[])
{
	struct vmm_config cfg;
	struct pupa_err err = { 0 };
	struct vm vm;
	int status;

	if (vmm_config__parse(&cfg, argc, argv, &err) < 0) {
		report(&err);	/* one line: pupa shows it as the reason */
		vmm_config__free(&cfg);
		return GUEST_ERR_BAD_CONFIG;
	}
	if (cfg.action == VMM_HELP) {
		vmm_config__usage(stdout);
		vmm_config__free(&cfg);
		return 0;
	}
	if (cfg.action == VMM_VERSION) {
		printf("pupa-vmm %s\n", PACKAGE_VERSION);
		vmm_config__free(&cfg);
		return 0;
	}

	status = vm__create(&vm, &cfg, &err);
	if (status == 0)
		status = vm__run(&vm, &err);
	else
		status = -status;
	vm__destroy(&vm);	/* restores the terminal before we print */
	if (status != 0)
		report(&err);
	else if (err.msg[0])
		/* to the log pupa keeps: a VM that ends early is explained */
		fprintf(stderr, "pupa-vmm: stopped: %s\n", err.msg);
	vmm_config__free(&cfg);
	return status;
}
