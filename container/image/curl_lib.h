/*
 * libcurl, opened on first use. libcurl and what it links (TLS, HTTP/2,
 * IDN, Kerberos, LDAP, ...) are 32 of the 46 shared objects pupa would
 * otherwise load at every start, images or rmi; only a network fetch needs
 * them. Under nested emulation loading them took 0.15 s of each start.
 */
#ifndef PUPA_CURL_LIB_H
#define PUPA_CURL_LIB_H

#include <stddef.h>

#define CURL_DISABLE_TYPECHECK	/* the calls go through pointers */
#include <curl/curl.h>

struct curl_lib {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode rc);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
	/* The URL API: every URL pupa judges is parsed the way libcurl will use it. */
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
	CURLUcode (*url_get)(CURLU *u, CURLUPart what, char **part, unsigned int flags);
	void (*url_cleanup)(CURLU *u);
	void (*free)(void *p);
};

/* The loaded library (once, thread-safe), or NULL with why filled in. */
const struct curl_lib *curl_lib__get(char *why, size_t len);

#endif
