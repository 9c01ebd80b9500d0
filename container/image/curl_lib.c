#include "curl_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* The soname libcurl4 and libcurl3-gnutls install; -dev is not needed. */
static const char *const sonames[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };

static struct curl_lib lib;
static char load_error[256];
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int curl_lib__resolve(void *h)
{
	static const struct { const char *name; size_t off; } syms[] = {
		{ "curl_easy_init", offsetof(struct curl_lib, easy_init) },
		{ "curl_easy_setopt", offsetof(struct curl_lib, easy_setopt) },
		{ "curl_easy_perform", offsetof(struct curl_lib, easy_perform) },
		{ "curl_easy_getinfo", offsetof(struct curl_lib, easy_getinfo) },
		{ "curl_easy_cleanup", offsetof(struct curl_lib, easy_cleanup) },
		{ "curl_easy_strerror", offsetof(struct curl_lib, easy_strerror) },
		{ "curl_slist_append", offsetof(struct curl_lib, slist_append) },
		{ "curl_slist_free_all", offsetof(struct curl_lib, slist_free_all) },
		{ "curl_url", offsetof(struct curl_lib, url) },
		{ "curl_url_set", offsetof(struct curl_lib, url_set) },
		{ "curl_url_get", offsetof(struct curl_lib, url_get) },
		{ "curl_url_cleanup", offsetof(struct curl_lib, url_cleanup) },
		{ "curl_free", offsetof(struct curl_lib, free) },
	};

	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *sym = dlsym(h, syms[i].name);

		if (!sym) {
			snprintf(load_error, sizeof(load_error), "libcurl lacks %s", syms[i].name);
			return -1;
		}
		/* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
		*(void **)((char *)&lib + syms[i].off) = sym;
	}
	return 0;
}

static void curl_lib__load(void)
{
	CURLcode (*global_init)(long flags);
	void *h = NULL;

	for (size_t i = 0; i < sizeof(sonames) / sizeof(sonames[0]) && !h; i++)
		h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(load_error, sizeof(load_error),
			 "cannot load libcurl (%s): apt-get install libcurl4", dlerror());
		return;
	}
	*(void **)&global_init = dlsym(h, "curl_global_init");
	if (!global_init || curl_lib__resolve(h) < 0) {
		if (!global_init)
			snprintf(load_error, sizeof(load_error), "libcurl lacks curl_global_init");
		dlclose(h);
		return;
	}
	/* Thread-safe since libcurl 7.84; pthread_once covers older ones. */
	if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(load_error, sizeof(load_error), "libcurl failed to initialise");
		dlclose(h);
		return;
	}
	loaded = 1;	/* never closed: libcurl keeps global state */
}

const struct curl_lib *curl_lib__get(char *why, size_t len)
{
	pthread_once(&once, curl_lib__load);
	if (loaded)
		return &lib;
	snprintf(why, len, "%s", load_error);
	return NULL;
}
