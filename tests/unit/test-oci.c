/*
 * What IMAGE means, registry references with Docker's normalisation, and
 * the OCI documents: index, manifest, config, platform selection.
 */
#include <check.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../../container/image/docker_archive.h"
#include "../../container/image/oci.h"
#include "../../container/image/reference.h"
#include "../../container/image/registry.h"
#include "../../container/image/www_auth.h"
#include "../../container/run_config.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const char *full(const char *text)
{
	static char buf[1024];
	struct image_ref r;
	const char *why = NULL;

	if (image_ref_parse(text, &r, &why) < 0)
		return why;
	image_ref_format(&r, buf, sizeof(buf));
	return buf;
}

START_TEST(references_normalise_as_docker_does)
{
	struct image_ref r;
	const char *why;

	ck_assert_str_eq(full("alpine"), "docker.io/library/alpine:latest");
	ck_assert_str_eq(full("alpine:3.20"), "docker.io/library/alpine:3.20");
	ck_assert_str_eq(full("user/app"), "docker.io/user/app:latest");
	ck_assert_str_eq(full("index.docker.io/library/alpine"), "docker.io/library/alpine:latest");
	ck_assert_str_eq(full("ghcr.io/org/app:1.2"), "ghcr.io/org/app:1.2");
	ck_assert_str_eq(full("localhost/app"), "localhost/app:latest");
	ck_assert_str_eq(full("localhost:5000/myimg@sha256:" HEX_A),
			 "localhost:5000/myimg@sha256:" HEX_A);
	ck_assert_str_eq(full("127.0.0.1:5000/test/img:1"), "127.0.0.1:5000/test/img:1");
	ck_assert_str_eq(full("[::1]:5000/a"), "[::1]:5000/a:latest");
	ck_assert_str_eq(full("a.b-c/d__e-f.g:t_1.x-y"), "a.b-c/d__e-f.g:t_1.x-y");
	ck_assert(strstr(full("a.b_c/d"), "registry"));
	ck_assert_int_eq(image_ref_parse("alpine", &r, &why), 0);
	ck_assert_str_eq(r.api_host, "registry-1.docker.io");
	ck_assert_int_eq(image_ref_parse("127.0.0.1:5000/x", &r, &why), 0);
	ck_assert_str_eq(r.api_host, "127.0.0.1:5000");
	ck_assert_str_eq(r.name, "x");
}
END_TEST

START_TEST(malformed_references_say_why)
{
	ck_assert_str_eq(full("Alpine"), "repository names are lowercase");
	ck_assert(strstr(full("alpine@sha256:abc"), "64 lowercase hex"));
	ck_assert(strstr(full("alpine:-x"), "a tag is"));
	ck_assert(strstr(full("a//b"), "[a-z0-9] parts"));
	ck_assert(strstr(full("a..b/c"), "registry"));
	ck_assert(strstr(full("host:99999999/c"), "registry"));
	ck_assert(strstr(full("a/-b"), "[a-z0-9] parts"));
	ck_assert(strstr(full(""), "empty"));
	ck_assert(strstr(full("localhost:5000/"), "empty"));
	{
		/* 240 characters fit alone, not as docker.io/library/NAME (found by fuzz-oci). */
		char name[241];

		memset(name, 'a', 240);
		name[240] = '\0';
		ck_assert(strstr(full(name), "longer than 255"));
		ck_assert(strstr(full("localhost/" HEX_A HEX_A HEX_A HEX_A), "longer than 255"));
	}
}
END_TEST

START_TEST(image_kinds_follow_the_precedence)
{
	char tmp[] = "/tmp/pupa-kind.XXXXXX";
	int fd = mkstemp(tmp);
	const char *base;

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(image_kind_of("http://x/alpine"), IMAGE_TARBALL);
	ck_assert_int_eq(image_kind_of("file:///x"), IMAGE_TARBALL);
	ck_assert_int_eq(image_kind_of("./alpine"), IMAGE_TARBALL);
	ck_assert_int_eq(image_kind_of("~/rootfs"), IMAGE_TARBALL);
	ck_assert_int_eq(image_kind_of("rootfs.tar.zst"), IMAGE_TARBALL);
	ck_assert_int_eq(image_kind_of("oci:/srv/layout:v1"), IMAGE_OCI_LAYOUT);
	ck_assert_int_eq(image_kind_of("oci-archive:img.tar"), IMAGE_OCI_ARCHIVE);	/* prefix first */
	ck_assert_int_eq(image_kind_of("oci-archive:img.oci"), IMAGE_OCI_ARCHIVE);
	ck_assert_int_eq(image_kind_of("alpine"), IMAGE_REGISTRY);
	ck_assert_int_eq(image_kind_of("docker-archive:app.tar"), IMAGE_DOCKER_ARCHIVE);
	ck_assert_int_eq(image_kind_of("docker-archive:app.tar:app:1"), IMAGE_DOCKER_ARCHIVE);
	/* Never Docker Hub's "containers-storage" or "docker-daemon". */
	ck_assert_int_eq(image_kind_of("containers-storage:localhost/app:1"), IMAGE_SKOPEO);
	ck_assert_int_eq(image_kind_of("docker-daemon:app:1"), IMAGE_SKOPEO);
	/* An existing file in the current directory is read as a file. */
	ck_assert_int_eq(chdir("/tmp"), 0);
	base = strrchr(tmp, '/') + 1;
	ck_assert_int_eq(image_kind_of(base), IMAGE_TARBALL);
	unlink(tmp);
	ck_assert_int_eq(image_kind_of(base), IMAGE_REGISTRY);
}
END_TEST

START_TEST(layout_names_split_at_the_first_colon)
{
	char path[256], ref[256];
	const char *why;

	ck_assert_int_eq(image_layout_parse("oci:/srv/img:v1", path, sizeof(path), ref, sizeof(ref), &why), 0);
	ck_assert_str_eq(path, "/srv/img");
	ck_assert_str_eq(ref, "v1");
	ck_assert_int_eq(image_layout_parse("oci:dir", path, sizeof(path), ref, sizeof(ref), &why), 0);
	ck_assert_str_eq(ref, "");
	ck_assert_int_lt(image_layout_parse("oci:", path, sizeof(path), ref, sizeof(ref), &why), 0);
	ck_assert_int_lt(image_layout_parse("oci:dir:", path, sizeof(path), ref, sizeof(ref), &why), 0);
}
END_TEST

START_TEST(layout_names_have_one_canonical_form)
{
	char out[4400], abs[PATH_MAX], ref[256], cwd[PATH_MAX], want[4400];
	const char *why;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(image_layout_canonical("oci:.", out, sizeof(out), abs, ref, sizeof(ref), &why), 0);
	snprintf(want, sizeof(want), "oci:%s", cwd);
	ck_assert_str_eq(out, want);
	ck_assert_str_eq(abs, cwd);
	ck_assert_int_eq(image_layout_canonical("oci-archive:/tmp/../tmp:v2", out, sizeof(out), abs,
						ref, sizeof(ref), &why), 0);
	ck_assert_str_eq(out, "oci-archive:/tmp:v2");
	ck_assert_str_eq(ref, "v2");
	ck_assert_int_lt(image_layout_canonical("oci:/no/such/dir", out, sizeof(out), abs, ref,
						sizeof(ref), &why), 0);
	ck_assert_str_eq(why, "No such file or directory");
	ck_assert_int_lt(image_layout_canonical("oci:/tmp:v2", out, 8, abs, ref, sizeof(ref), &why), 0);
	ck_assert_str_eq(why, "the path is too long");
}
END_TEST

static const char index_json[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":["
	"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"sha256:" HEX_A "\",\"size\":10,"
	" \"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
	"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"sha256:" HEX_B "\",\"size\":11,"
	" \"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
	" \"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}";

START_TEST(index_platform_selection)
{
	struct oci_index ix;
	struct oci_platform p;
	char why[256];
	size_t which = 99;

	ck_assert_int_eq(oci_doc_kind(index_json, strlen(index_json)), OCI_DOC_INDEX);
	ck_assert_msg(oci_index_parse(index_json, strlen(index_json), &ix, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(ix.n, 2);
	ck_assert_str_eq(ix.manifests[1].ref_name, "v1");
	oci_platform_host(&p);
	ck_assert_int_eq(oci_index_select(&ix, &p, &which, why, sizeof(why)), 0);
	ck_assert_uint_eq(which, 1);
	ck_assert_int_eq(oci_platform_parse("linux/arm64", &p), 0);
	ck_assert_int_eq(oci_index_select(&ix, &p, &which, why, sizeof(why)), 0);
	ck_assert_uint_eq(which, 0);
	ck_assert_int_eq(oci_platform_parse("linux/riscv64", &p), 0);
	ck_assert_int_lt(oci_index_select(&ix, &p, &which, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "no manifest for linux/riscv64") &&
		      strstr(why, "linux/arm64/v8") && strstr(why, "linux/amd64"), "%s", why);
	ck_assert_int_lt(oci_platform_parse("linux", &p), 0);
	ck_assert_int_lt(oci_platform_parse("linux/amd64/v1/x", &p), 0);
	oci_index_free(&ix);
}
END_TEST

START_TEST(manifest_layers_and_media_types)
{
	const char *m =
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"sha256:" HEX_A "\",\"size\":5},\"layers\":["
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:" HEX_B "\",\"size\":7},"
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"sha256:" HEX_B "\",\"size\":8},"
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:" HEX_B "\",\"size\":9}]}";
	const char *bad_mt =
		"{\"config\":{\"digest\":\"sha256:" HEX_A "\",\"size\":5},\"layers\":["
		"{\"mediaType\":\"application/x-squashfs\",\"digest\":\"sha256:" HEX_B "\",\"size\":7}]}";
	const char *bad_digest =
		"{\"config\":{\"digest\":\"sha512:" HEX_A "\",\"size\":5},\"layers\":[]}";
	const char *dup = "{\"config\":{},\"config\":{},\"layers\":[]}";
	struct oci_manifest man;
	char why[256];

	ck_assert_int_eq(oci_doc_kind(m, strlen(m)), OCI_DOC_MANIFEST);
	ck_assert_msg(oci_manifest_parse(m, strlen(m), &man, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(man.n, 3);
	ck_assert_int_eq(man.compression[0], OCI_LAYER_GZIP);
	ck_assert_int_eq(man.compression[1], OCI_LAYER_ZSTD);
	ck_assert_int_eq(man.compression[2], OCI_LAYER_TAR);
	ck_assert_uint_eq(man.layers[2].size, 9);
	oci_manifest_free(&man);
	ck_assert_int_lt(oci_manifest_parse(bad_mt, strlen(bad_mt), &man, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "application/x-squashfs"), "%s", why);
	ck_assert_int_lt(oci_manifest_parse(bad_digest, strlen(bad_digest), &man, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "sha256"), "%s", why);
	ck_assert_int_lt(oci_manifest_parse(dup, strlen(dup), &man, why, sizeof(why)), 0);
	ck_assert_int_lt(oci_manifest_parse("[1]", 3, &man, why, sizeof(why)), 0);
}
END_TEST

START_TEST(config_fields)
{
	const char *c =
		"{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{"
		"\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":null,\"Env\":[\"PATH=/bin\",\"A=b c\"],"
		"\"WorkingDir\":\"/srv\",\"User\":\"1000:1000\"}}";
	const char *nul = "{\"config\":{\"Cmd\":[\"a\\u0000b\"]}}";
	const char *notlist = "{\"config\":{\"Cmd\":\"ls\"}}";
	struct oci_config cfg;
	char why[256];

	ck_assert_msg(oci_config_parse(c, strlen(c), &cfg, why, sizeof(why)) == 0, "%s", why);
	ck_assert_str_eq(cfg.entrypoint[0], "/bin/sh");
	ck_assert_str_eq(cfg.entrypoint[1], "-c");
	ck_assert_ptr_null(cfg.entrypoint[2]);
	ck_assert_ptr_null(cfg.cmd);
	ck_assert_str_eq(cfg.env[1], "A=b c");
	ck_assert_str_eq(cfg.workdir, "/srv");
	ck_assert_str_eq(cfg.user, "1000:1000");
	ck_assert_str_eq(cfg.platform.arch, "amd64");
	oci_config_free(&cfg);
	ck_assert_int_lt(oci_config_parse(nul, strlen(nul), &cfg, why, sizeof(why)), 0);
	ck_assert_int_lt(oci_config_parse(notlist, strlen(notlist), &cfg, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "Cmd is not a list"), "%s", why);
	ck_assert_int_eq(oci_config_parse("{}", 2, &cfg, why, sizeof(why)), 0);
	ck_assert_ptr_null(cfg.entrypoint);
	oci_config_free(&cfg);
}
END_TEST

static char *joined(char **v)
{
	static char buf[512];

	buf[0] = '\0';
	for (size_t i = 0; v && v[i]; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "|" : "", v[i]);
	return buf;
}

START_TEST(run_config_follows_docker)
{
	char *ep[] = { "/bin/sh", "-c", NULL }, *cmd[] = { "echo hi", NULL };
	char *ienv[] = { "PATH=/bin", "A=1", NULL }, *oenv[] = { "A=2", "B=3", NULL };
	char *mine[] = { "ls", "-l", NULL }, *none[] = { NULL };
	struct oci_config img = { .entrypoint = ep, .cmd = cmd, .env = ienv, .workdir = "/srv",
				  .user = "app" };
	struct oci_config empty = { 0 };
	struct run_request req = { .command = none };
	struct run_config rc;
	struct pupa_err err = { 0 };

	ck_assert_int_eq(run_config_merge(&img, &req, &rc, &err), 0);
	ck_assert_str_eq(joined(rc.argv), "/bin/sh|-c|echo hi");
	ck_assert_str_eq(joined(rc.env), "PATH=/bin|A=1");
	ck_assert_str_eq(rc.cwd, "/srv");
	ck_assert_str_eq(rc.user, "app");
	run_config_free(&rc);

	req = (struct run_request){ .command = mine, .env = oenv, .workdir = "/tmp", .user = "0" };
	ck_assert_int_eq(run_config_merge(&img, &req, &rc, &err), 0);
	ck_assert_str_eq(joined(rc.argv), "/bin/sh|-c|ls|-l");
	ck_assert_str_eq(joined(rc.env), "PATH=/bin|A=2|B=3");
	ck_assert_str_eq(rc.cwd, "/tmp");
	ck_assert_str_eq(rc.user, "0");
	run_config_free(&rc);

	req = (struct run_request){ .entrypoint = "/bin/env", .command = none };
	ck_assert_int_eq(run_config_merge(&img, &req, &rc, &err), 0);
	ck_assert_str_eq(joined(rc.argv), "/bin/env");	/* Cmd cleared */
	run_config_free(&rc);

	req = (struct run_request){ .entrypoint = "", .command = mine };
	ck_assert_int_eq(run_config_merge(&img, &req, &rc, &err), 0);
	ck_assert_str_eq(joined(rc.argv), "ls|-l");
	run_config_free(&rc);

	req = (struct run_request){ .command = none };
	ck_assert_int_eq(run_config_merge(NULL, &req, &rc, &err), 0);
	ck_assert_str_eq(joined(rc.argv), "/bin/sh");	/* a tarball */
	ck_assert_ptr_null(rc.cwd);
	run_config_free(&rc);

	ck_assert_int_lt(run_config_merge(&empty, &req, &rc, &err), 0);
	ck_assert_msg(strstr(err.msg, "no Entrypoint or Cmd"), "%s", err.msg);
}
END_TEST

START_TEST(www_authenticate_challenges)
{
	struct www_auth a;
	char big[2000];

	ck_assert_int_eq(www_auth_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\"", &a), 0);
	ck_assert_str_eq(a.scheme, "Bearer");
	ck_assert_str_eq(a.realm, "https://auth.docker.io/token");
	ck_assert_str_eq(a.service, "registry.docker.io");
	ck_assert_str_eq(a.scope, "repository:library/alpine:pull");
	ck_assert_int_eq(www_auth_parse("basic REALM = \"a \\\"quoted\\\" realm\" , charset=UTF-8", &a), 0);
	ck_assert_str_eq(a.scheme, "basic");
	ck_assert_str_eq(a.realm, "a \"quoted\" realm");
	ck_assert_int_eq(www_auth_parse("Bearer realm=http://127.0.0.2:9/t, Basic realm=x", &a), 0);
	ck_assert_str_eq(a.realm, "http://127.0.0.2:9/t");
	ck_assert_int_lt(www_auth_parse("", &a), 0);
	ck_assert_int_lt(www_auth_parse("Bearer realm=\"open", &a), 0);
	ck_assert_int_lt(www_auth_parse("Bearer realm=\"a\nb\"", &a), 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "Bearer realm=", 13);
	ck_assert_int_lt(www_auth_parse(big, &a), 0);	/* too long: refused, not cut */
}
END_TEST

START_TEST(plain_http_only_for_loopback_or_named)
{
	ck_assert(registry_plain_http_ok("127.0.0.1:5000", NULL));
	ck_assert(registry_plain_http_ok("127.1.2.3", NULL));
	ck_assert(registry_plain_http_ok("localhost:5000", NULL));
	ck_assert(registry_plain_http_ok("[::1]:5000", NULL));
	ck_assert(!registry_plain_http_ok("docker.io", NULL));
	ck_assert(!registry_plain_http_ok("127.0.0.1.example.com", NULL));
	ck_assert(!registry_plain_http_ok("10.0.0.5:5000", "10.0.0.5:5001"));
	ck_assert(registry_plain_http_ok("10.0.0.5:5000", "reg.lan,10.0.0.5:5000"));
	ck_assert(registry_plain_http_ok("reg.lan:443", "reg.lan"));	/* HOST names every port */
	ck_assert(!registry_plain_http_ok("reg.lan2", "reg.lan"));
	/* Loopback is an address literal: these names go through DNS. */
	ck_assert(!registry_plain_http_ok("127.0.0.1.1", NULL));
	ck_assert(!registry_plain_http_ok("127.0.0.1.1:5000", NULL));
	ck_assert(!registry_plain_http_ok("127.1", NULL));
	ck_assert(!registry_plain_http_ok("127.0.0.256", NULL));
	ck_assert(!registry_plain_http_ok("128.0.0.1", NULL));
	ck_assert(!registry_plain_http_ok("[::2]:5000", NULL));
	ck_assert(!registry_plain_http_ok("[::1", NULL));
	ck_assert(registry_plain_http_ok("127.255.255.255:1", NULL));
	ck_assert(registry_plain_http_ok("[::ffff:127.0.0.1]:5000", NULL));
}
END_TEST

START_TEST(realm_urls_parse_as_libcurl_does)
{
	struct registry_origin o, p;
	const char *why;
	char big[5000];

	ck_assert_int_eq(registry_url_origin("https://auth.docker.io/token?x=1", &o, &why), 0);
	ck_assert_str_eq(o.scheme, "https");
	ck_assert_str_eq(o.host, "auth.docker.io");
	ck_assert_uint_eq(o.port, 443);
	ck_assert_int_eq(registry_url_origin("http://127.0.0.1:5000/t", &o, &why), 0);
	ck_assert_uint_eq(o.port, 5000);
	ck_assert_int_eq(registry_url_origin("http://127.0.0.1/t", &p, &why), 0);
	ck_assert_uint_eq(p.port, 80);
	ck_assert(!registry_same_origin(&o, &p));	/* another port */
	ck_assert_int_eq(registry_url_origin("http://127.0.0.1:80/", &o, &why), 0);
	ck_assert(registry_same_origin(&o, &p));	/* the default, written out */
	ck_assert_int_eq(registry_url_origin("https://127.0.0.1:80/", &o, &why), 0);
	ck_assert(!registry_same_origin(&o, &p));	/* another scheme */
	ck_assert_int_eq(registry_url_origin("http://[::1]:9/", &o, &why), 0);
	ck_assert_str_eq(o.host, "[::1]");
	ck_assert_int_eq(registry_url_origin("http://[fe80::1%25eth0]:9/", &o, &why), 0);
	ck_assert_str_eq(o.host, "[fe80::1%25eth0]");
	ck_assert_int_eq(registry_url_origin("http://[fe80::1%25eth1]:9/", &p, &why), 0);
	ck_assert(!registry_same_origin(&o, &p));	/* another zone */
	snprintf(big, sizeof(big), "http://[fe80::1%%25%070d]:9/", 0);	/* a zone too long to keep */
	ck_assert_int_eq(registry_url_origin(big, &o, &why), -EINVAL);
	/* User information, in every spelling: refused, whatever follows. */
	ck_assert_int_eq(registry_url_origin("http://127.0.0.1:x@127.0.0.2:18502/token", &o, &why),
			 -EACCES);
	ck_assert_int_eq(registry_url_origin("http://user@h/", &o, &why), -EACCES);
	ck_assert_int_eq(registry_url_origin("http://:pw@h/", &o, &why), -EACCES);
	ck_assert_int_eq(registry_url_origin("http://@h/", &o, &why), -EACCES);
	ck_assert_int_eq(registry_url_origin("http://u%40x@h/", &o, &why), -EACCES);
	/* Not http(s), or not a URL. */
	ck_assert_int_eq(registry_url_origin("file:///etc/passwd", &o, &why), -EINVAL);
	ck_assert_int_eq(registry_url_origin("ftp://h/", &o, &why), -EINVAL);
	ck_assert_int_eq(registry_url_origin("gopher://h/", &o, &why), -EINVAL);
	ck_assert_int_eq(registry_url_origin("//h/t", &o, &why), -EINVAL);
	ck_assert_int_eq(registry_url_origin("h/t", &o, &why), -EINVAL);
	ck_assert_int_eq(registry_url_origin("", &o, &why), -EINVAL);
	/* libcurl reads this as host t (7.88) or refuses it: never an empty host. */
	ck_assert(registry_url_origin("http:///t", &o, &why) < 0 || o.host[0]);
	ck_assert_int_eq(registry_url_origin("http://h:0/", &o, &why), -EINVAL);
	ck_assert_int_eq(registry_url_origin("http://h:65536/", &o, &why), -EINVAL);
	ck_assert_int_eq(registry_url_origin("http://h:65535/", &o, &why), 0);
	ck_assert_int_eq(registry_url_origin("http://h:1/", &o, &why), 0);
	ck_assert_int_eq(registry_url_origin("http://h\r\nX: y/", &o, &why), -EINVAL);
	/* Bounds: the whole URL, and the host. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "http://", 7);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(registry_url_origin(big, &o, &why), -EINVAL);
	ck_assert(strstr(why, "longer"));
	big[7 + sizeof(o.host)] = '\0';	/* a host one longer than fits */
	ck_assert_int_eq(registry_url_origin(big, &o, &why), -EINVAL);
	big[7 + sizeof(o.host) - 1] = '\0';	/* exactly what fits, with its NUL */
	ck_assert_int_eq(registry_url_origin(big, &o, &why), 0);
	ck_assert_uint_eq(strlen(o.host), sizeof(o.host) - 1);
}
END_TEST

/* manifest.json: JSON of at most n images, each a Config, Layers, RepoTags. */
static int da_parse(const char *json, char *why, size_t wlen)
{
	struct docker_archive_manifest m;
	int ret = docker_archive_manifest_parse(json, strlen(json), &m, why, wlen);

	if (ret == 0)
		docker_archive_manifest_free(&m);
	return ret;
}

/* A list of n copies of item, joined by ',', in [ ]. */
static char *repeat(const char *item, size_t n)
{
	char *out = malloc(n * (strlen(item) + 1) + 3), *p = out;

	*p++ = '[';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", item);
	strcpy(p, "]");
	return out;
}

START_TEST(docker_manifest_bounds)
{
	struct docker_archive_manifest m;
	char why[600], *text, *img;
	size_t which;
	const char *ok = "[{\"Config\":\"./" HEX_A ".json\",\"RepoTags\":[\"demo/x:1\"],"
			 "\"Layers\":[\"" HEX_B "/layer.tar\"]}]";

	ck_assert_int_eq(docker_archive_manifest_parse(ok, strlen(ok), &m, why, sizeof(why)), 0);
	ck_assert_uint_eq(m.n, 1);
	ck_assert_str_eq(m.images[0].config, HEX_A ".json");	/* normalised */
	ck_assert_uint_eq(m.images[0].n_layers, 1);
	ck_assert_int_eq(docker_archive_pick(&m, "docker.io/demo/x:1", &which, why, sizeof(why)), 0);
	ck_assert_int_eq(docker_archive_pick(&m, "", &which, why, sizeof(why)), 0);
	ck_assert_int_eq(docker_archive_pick(&m, "demo/x:2", &which, why, sizeof(why)), -1);
	ck_assert(strstr(why, "no image tagged 'demo/x:2' (it has: demo/x:1)"));
	docker_archive_manifest_free(&m);

	ck_assert_int_eq(da_parse("{}", why, sizeof(why)), -1);
	ck_assert(strstr(why, "not a list of 1 to 64 images"));
	ck_assert_int_eq(da_parse("[]", why, sizeof(why)), -1);
	ck_assert_int_eq(da_parse("[{\"Config\":\"c\",\"Config\":\"d\",\"Layers\":[]}]", why,
				  sizeof(why)), -1);	/* duplicate keys: which one? */
	ck_assert_int_eq(da_parse("[{\"Config\":\"../c\",\"Layers\":[]}]", why, sizeof(why)), -1);
	ck_assert(strstr(why, "'..' component refused"));
	ck_assert_int_eq(da_parse("[{\"Config\":\".\",\"Layers\":[]}]", why, sizeof(why)), -1);
	ck_assert(strstr(why, "names no file"));
	ck_assert_int_eq(da_parse("[{\"Config\":\"c\",\"Layers\":[\"/l\"]}]", why, sizeof(why)), -1);
	ck_assert_int_eq(da_parse("[{\"Config\":\"c\",\"Layers\":[7]}]", why, sizeof(why)), -1);
	ck_assert_int_eq(da_parse("[{\"Config\":\"c\"}]", why, sizeof(why)), -1);
	ck_assert_int_eq(da_parse("[{\"Config\":\"c\",\"Layers\":[],\"RepoTags\":[\"\"]}]", why,
				  sizeof(why)), -1);
	/* 256 layers and 64 images are the most; one more is refused. */
	text = repeat("\"l.tar\"", OCI_LAYERS_MAX);
	img = malloc(strlen(text) + 64);
	sprintf(img, "[{\"Config\":\"c\",\"Layers\":%s}]", text);
	ck_assert_int_eq(da_parse(img, why, sizeof(why)), 0);
	free(text);
	free(img);
	text = repeat("\"l.tar\"", OCI_LAYERS_MAX + 1);
	img = malloc(strlen(text) + 64);
	sprintf(img, "[{\"Config\":\"c\",\"Layers\":%s}]", text);
	ck_assert_int_eq(da_parse(img, why, sizeof(why)), -1);
	ck_assert(strstr(why, "at most 256 paths"));
	free(text);
	free(img);
	text = repeat("{\"Config\":\"c\",\"Layers\":[]}", DOCKER_ARCHIVE_IMAGES_MAX);
	ck_assert_int_eq(da_parse(text, why, sizeof(why)), 0);
	free(text);
	text = repeat("{\"Config\":\"c\",\"Layers\":[]}", DOCKER_ARCHIVE_IMAGES_MAX + 1);
	ck_assert_int_eq(da_parse(text, why, sizeof(why)), -1);
	free(text);
	text = repeat("\"a:1\"", DOCKER_ARCHIVE_TAGS_MAX + 1);
	img = malloc(strlen(text) + 64);
	sprintf(img, "[{\"Config\":\"c\",\"Layers\":[],\"RepoTags\":%s}]", text);
	ck_assert_int_eq(da_parse(img, why, sizeof(why)), -1);
	free(text);
	free(img);
	/* A path of 1023 bytes is taken, 1024 is not. */
	img = malloc(2200);
	sprintf(img, "[{\"Config\":\"%01023d\",\"Layers\":[]}]", 0);
	ck_assert_int_eq(da_parse(img, why, sizeof(why)), 0);
	sprintf(img, "[{\"Config\":\"%01024d\",\"Layers\":[]}]", 0);
	ck_assert_int_eq(da_parse(img, why, sizeof(why)), -1);
	free(img);
	/* Several images and no name: the tags listed. */
	text = "[{\"Config\":\"c\",\"RepoTags\":[\"a:1\"],\"Layers\":[]},"
	       "{\"Config\":\"c\",\"RepoTags\":[\"b:1\"],\"Layers\":[]}]";
	ck_assert_int_eq(docker_archive_manifest_parse(text, strlen(text), &m, why, sizeof(why)), 0);
	ck_assert_int_eq(docker_archive_pick(&m, "", &which, why, sizeof(why)), -1);
	ck_assert(strstr(why, "holds 2 images") && strstr(why, "a:1, b:1"));
	ck_assert_int_eq(docker_archive_pick(&m, "b:1", &which, why, sizeof(why)), 0);
	ck_assert_uint_eq(which, 1);
	docker_archive_manifest_free(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("oci");
	TCase *tc = tcase_create("oci");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, references_normalise_as_docker_does);
	tcase_add_test(tc, malformed_references_say_why);
	tcase_add_test(tc, image_kinds_follow_the_precedence);
	tcase_add_test(tc, layout_names_split_at_the_first_colon);
	tcase_add_test(tc, layout_names_have_one_canonical_form);
	tcase_add_test(tc, index_platform_selection);
	tcase_add_test(tc, manifest_layers_and_media_types);
	tcase_add_test(tc, config_fields);
	tcase_add_test(tc, run_config_follows_docker);
	tcase_add_test(tc, www_authenticate_challenges);
	tcase_add_test(tc, plain_http_only_for_loopback_or_named);
	tcase_add_test(tc, docker_manifest_bounds);
	tcase_add_test(tc, realm_urls_parse_as_libcurl_does);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
