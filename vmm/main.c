/*
 * pupa-vmm: a standalone VMM that boots a Linux kernel on KVM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control_proto.h"
#include "error.h"
#include "vm.h"

static void report(const struct pupa_err *err)
{
	char line[1024];

	pupa_err_format(err, line, sizeof(line));
	fprintf(stderr, "pupa-vmm: %s\n", line);
}

/*
 * The exit record is created now, before anything else: once pupa-vmm has
 * confined itself (Landlock) it can create no file. It stays empty until
 * the end; an empty or cut-short one says pupa-vmm never got to its last
 * word (SIGKILL, SIGSYS). Returns the descriptor, -1 without the flag, or
 * -GUEST_ERR_BAD_CONFIG.
 */
static int open_record(const struct vmm_config *cfg, struct pupa_err *err)
{
	int fd;

	if (!cfg->exit_record)
		return -1;
	fd = open(cfg->exit_record, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--exit-record %s: %s", cfg->exit_record,
				 strerror(errno));
	return fd;
}

/* The exit event, one line, in one write: whole or (if cut) unfinished. */
static void write_record(int fd, const struct vm *vm, int status, const struct pupa_err *err)
{
	struct control_reply r = { .kind = CONTROL_EVENT_EXIT };
	struct pupa_err reason = *err;
	char *line;
	size_t n;

	if (fd < 0)
		return;
	if (status == 0)
		reason.code = 0;	/* a clean end: the message says how */
	vm__exit_record(vm, &reason, &r.u.exit);
	line = control_reply_encode(&r);
	if (line) {
		n = strlen(line);
		line[n] = '\n';	/* over the terminator: write() takes a length */
		if (write(fd, line, n + 1) != (ssize_t)(n + 1))
			fprintf(stderr, "pupa-vmm: --exit-record: %s\n", strerror(errno));
	}
	free(line);
	close(fd);
}

int main(int argc, char *argv[])
{
	struct vmm_config cfg;
	struct pupa_err err = { 0 };
	struct vm vm;
	int status, record;

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

	record = open_record(&cfg, &err);
	if (record < -1) {
		report(&err);
		vmm_config__free(&cfg);
		return GUEST_ERR_BAD_CONFIG;
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
	write_record(record, &vm, status, &err);
	vmm_config__free(&cfg);
	return status;
}
