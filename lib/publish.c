/* SPDX-License-Identifier: MIT */
#include "publish.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* A port number 1-65535, all digits; 0 if it is not one. */
static uint16_t publish__port(const char *s, size_t n)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535 ? (uint16_t)v : 0;
}

static int publish__bad(const char *spec, char *why, unsigned long len, const char *problem)
{
	return pupa_why(why, len, -EINVAL, "%s: %s (expected [HOSTIP:]HOSTPORT:CONTAINERPORT"
			"[/tcp|/udp], e.g. 8080:80 or 127.0.0.1:5353:53/udp)", spec, problem);
}

int publish_parse(const char *spec, struct port_publish *p, char *why, unsigned long len)
{
	char buf[64], *proto, *last, *mid;
	const char *host = "127.0.0.1";

	memset(p, 0, sizeof(*p));
	if (strlen(spec) >= sizeof(buf))
		return publish__bad(spec, why, len, "too long");
	strcpy(buf, spec);
	proto = strchr(buf, '/');
	if (proto) {
		*proto++ = '\0';
		if (strcmp(proto, "udp") == 0)
			p->udp = 1;
		else if (strcmp(proto, "tcp") != 0)
			return publish__bad(spec, why, len, "the protocol must be tcp or udp");
	}
	if (buf[0] == '[')
		return publish__bad(spec, why, len, "IPv6 host addresses are not supported yet");
	if (strchr(buf, '-'))
		return publish__bad(spec, why, len, "port ranges are not supported");
	last = strrchr(buf, ':');
	if (!last)
		return publish__bad(spec, why, len, "give a host port as well; pupa picks none");
	*last++ = '\0';
	mid = strrchr(buf, ':');
	if (mid) {
		*mid++ = '\0';
		host = buf;
	} else {
		mid = buf;
	}
	if (*mid == '\0')
		return publish__bad(spec, why, len, "give a host port; pupa picks none");
	p->host_port = publish__port(mid, strlen(mid));
	p->guest_port = publish__port(last, strlen(last));
	if (!p->host_port || !p->guest_port)
		return publish__bad(spec, why, len, "a port is a number from 1 to 65535");
	if (inet_pton(AF_INET, host, &p->host_addr) != 1)
		return publish__bad(spec, why, len, strchr(host, ':') ?
				    "IPv6 host addresses are not supported yet" :
				    "the host address is not an IPv4 address");
	return 0;
}

void publish_format(const struct port_publish *p, char *buf, unsigned long len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &p->host_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u:%u/%s", ip, p->host_port, p->guest_port, p->udp ? "udp" : "tcp");
}
