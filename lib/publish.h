/* SPDX-License-Identifier: MIT */
/*
 * A published port in Docker's -p syntax, read the same way by pupa and
 * pupa-vmm: [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]. HOSTIP defaults to
 * 127.0.0.1, not Docker's 0.0.0.0: a port reachable from other machines
 * must be asked for by address. IPv4 host addresses only, single ports
 * only (no ranges, no random host port), each refused with a reason.
 */
#ifndef PUPA_PUBLISH_H
#define PUPA_PUBLISH_H

#include <netinet/in.h>
#include <stdint.h>

#define PUBLISH_MAX		32	/* -p flags per container */
#define PUBLISH_TEXT_MAX	32	/* "255.255.255.255:65535:65535/udp" */

struct port_publish {
	int udp;
	struct in_addr host_addr;	/* network order */
	uint16_t host_port;
	uint16_t guest_port;
};

/* 0, or -EINVAL with why ("SPEC: problem (expected ...)") filled. */
int publish_parse(const char *spec, struct port_publish *p, char *why, unsigned long len);

/* The canonical text: "127.0.0.1:8080:80/tcp". */
void publish_format(const struct port_publish *p, char *buf, unsigned long len);

#endif
