/*
 * oci:DIR[:REF]: index.json names the images; REF picks one by its
 * org.opencontainers.image.ref.name, or the layout holds only one. An
 * index on the way is walked by platform, a manifest is taken as is.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "digest.h"
#include "oci_layout.h"
#include "reference.h"
#include "unpack.h"

/*
 * A layout's file, open for reading only if it is a regular file. Opened
 * O_NONBLOCK so that a FIFO (or a device) in its place cannot hang the
 * open, then judged by fstat: -errno, -EINVAL for "not a regular file"
 * (layout__why says it in words).
 */
static int layout__open(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		int e = S_ISREG(st->st_mode) ? errno : EINVAL;

		close(fd);
		return -e;
	}
	/* Regular files ignore O_NONBLOCK; cleared all the same. */
	if (fcntl(fd, F_SETFL, 0) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static const char *layout__why(int e)
{
	if (e == EINVAL)
		return "not a regular file (a FIFO, a device or a directory in its place)";
	return e == EFBIG ? "too large" : strerror(e);
}

/* A whole small file of at most max bytes, NUL-terminated. */
static int layout__read(const char *path, size_t max, char **out, size_t *len, int *err_no)
{
	struct stat st;
	int fd = layout__open(path, &st);
	ssize_t n;

	*out = NULL;
	if (fd < 0) {
		*err_no = -fd;
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		*err_no = EFBIG;
		close(fd);
		return -1;
	}
	*out = malloc((size_t)st.st_size + 1);
	n = *out ? read(fd, *out, (size_t)st.st_size) : -1;
	*err_no = n < 0 ? errno : EIO;
	close(fd);
	if (n != st.st_size) {
		free(*out);
		*out = NULL;
		return -1;
	}
	(*out)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

/* A document blob: its size and SHA-256 must be what the descriptor says. */
static int layout__blob(const struct oci_resolved *r, const struct oci_descriptor *d,
			const char *what, char **out, size_t *len, struct pupa_err *err)
{
	char path[4400], got[DIGEST_HEX_LEN + 1];
	struct digest *dg;
	int e;

	snprintf(path, sizeof(path), "%s/%s", r->blob_dir, d->digest);
	if (d->size > OCI_DOC_MAX)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the %s sha256:%s is %llu bytes (at most %u)", r->source, what,
			       d->digest, (unsigned long long)d->size, OCI_DOC_MAX);
	if (layout__read(path, OCI_DOC_MAX, out, len, &e) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: the %s blob %s: %s",
			       r->source, what, path, layout__why(e));
	dg = digest_new();
	if (!dg) {
		free(*out);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	}
	digest_update(dg, *out, *len);
	digest_hex(dg, got);
	digest_free(dg);
	if (*len != d->size || strcmp(got, d->digest) != 0) {
		free(*out);
		*out = NULL;
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the %s blob sha256:%s does not match its descriptor "
			       "(%zu bytes with SHA-256 %s; %llu bytes expected)", r->source, what,
			       d->digest, *len, got, (unsigned long long)d->size);
	}
	return 0;
}

/* Which of index.json's entries the reference names. */
static int layout__pick(const struct oci_resolved *r, const struct oci_index *ix, const char *ref,
			size_t *which, struct pupa_err *err)
{
	char names[512] = "";

	for (size_t i = 0; i < ix->n; i++) {
		if (ref[0] && strcmp(ix->manifests[i].ref_name, ref) == 0) {
			*which = i;
			return 0;
		}
		if (ix->manifests[i].ref_name[0] && strlen(names) + 2 < sizeof(names))
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 names[0] ? ", " : "", ix->manifests[i].ref_name);
	}
	if (!ref[0] && ix->n == 1) {
		*which = 0;
		return 0;
	}
	if (ref[0])
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the layout has no image named '%s' (it has: %s)", r->source,
			       ref, names[0] ? names : "no named images");
	return 1;	/* several and no name: index.json is itself the platform index */
}

/* From an index descriptor to the platform's manifest descriptor. */
static int layout__walk_index(struct oci_resolved *r, const struct oci_index *ix,
			      const struct oci_platform *want, struct oci_descriptor *out,
			      struct pupa_err *err)
{
	char why[512];
	size_t which;

	if (oci_index_select(ix, want, &which, why, sizeof(why)) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", r->source, why);
	*out = ix->manifests[which];
	oci_platform_format(&out->platform, r->platform, sizeof(r->platform));
	return 0;
}

static int layout__manifest(struct oci_resolved *r, struct oci_descriptor d,
			    const struct oci_platform *want, struct pupa_err *err)
{
	char *doc = NULL, why[512];
	size_t len;
	int ret;

	ret = layout__blob(r, &d, "manifest", &doc, &len, err);
	if (ret < 0)
		return ret;
	if (oci_doc_kind(doc, len) == OCI_DOC_INDEX && !r->index_digest[0]) {
		struct oci_index ix;

		snprintf(r->index_digest, sizeof(r->index_digest), "%s", d.digest);
		ret = oci_index_parse(doc, len, &ix, why, sizeof(why));
		free(doc);
		if (ret < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", r->source, why);
		ret = layout__walk_index(r, &ix, want, &d, err);
		oci_index_free(&ix);
		return ret < 0 ? ret : layout__manifest(r, d, want, err);
	}
	ret = oci_manifest_parse(doc, len, &r->manifest, why, sizeof(why));
	free(doc);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: manifest sha256:%.12s: %s",
			       r->source, d.digest, why);
	snprintf(r->manifest_digest, sizeof(r->manifest_digest), "%s", d.digest);
	return 0;
}

/* The config, and the platform it says the image is for. */
static int layout__config(struct oci_resolved *r, const struct oci_platform *want,
			  struct pupa_err *err)
{
	int ret = layout__blob(r, &r->manifest.config, "config", &r->config, &r->config_len, err);

	return ret < 0 ? ret : oci_resolved_check_config(r, want, err);
}

int oci_resolved_check_config(struct oci_resolved *r, const struct oci_platform *want,
			      struct pupa_err *err)
{
	struct oci_config cfg;
	char why[512], have[100], need[100];
	int ret;

	snprintf(r->config_digest, sizeof(r->config_digest), "%s", r->manifest.config.digest);
	if (oci_config_parse(r->config, r->config_len, &cfg, why, sizeof(why)) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", r->source, why);
	oci_platform_format(&cfg.platform, have, sizeof(have));
	oci_platform_format(want, need, sizeof(need));
	ret = 0;
	if ((cfg.platform.os[0] && strcmp(cfg.platform.os, want->os) != 0) ||
	    (cfg.platform.arch[0] && strcmp(cfg.platform.arch, want->arch) != 0))
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "%s: the image is for %s, not %s", r->source, have, need);
	else if (!r->platform[0])
		snprintf(r->platform, sizeof(r->platform), "%s", have);
	oci_config_free(&cfg);
	return ret;
}

int oci_layout_resolve(const char *image, const struct oci_platform *want,
		       struct oci_resolved *r, struct pupa_err *err)
{
	char abs[PATH_MAX], ref[256], path[PATH_MAX + 32], why[512];
	const char *bad;
	struct oci_platform host;
	struct oci_descriptor d;
	struct oci_index ix;
	char *doc = NULL;
	size_t len, which = 0;
	int e, ret;

	memset(r, 0, sizeof(*r));
	if (!want) {
		oci_platform_host(&host);
		want = &host;
	}
	if (image_layout_canonical(image, r->source, sizeof(r->source), abs, ref, sizeof(ref),
				   &bad) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: %s", image, bad);
	snprintf(r->blob_dir, sizeof(r->blob_dir), "%s/blobs/sha256", abs);
	snprintf(path, sizeof(path), "%s/oci-layout", abs);
	if (access(path, R_OK) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "image %s: %s is not an OCI image layout (no oci-layout file)",
			       image, abs);
	snprintf(path, sizeof(path), "%s/index.json", abs);
	if (layout__read(path, OCI_DOC_MAX, &doc, &len, &e) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: %s: %s", image, path,
			       layout__why(e));
	ret = oci_index_parse(doc, len, &ix, why, sizeof(why));
	free(doc);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: index.json: %s", image, why);
	ret = layout__pick(r, &ix, ref, &which, err);
	if (ret == 0)
		d = ix.manifests[which];
	else if (ret == 1)
		ret = layout__walk_index(r, &ix, want, &d, err);
	if (ret == 0)
		ret = layout__manifest(r, d, want, err);
	oci_index_free(&ix);
	if (ret == 0)
		ret = layout__config(r, want, err);
	if (ret < 0)
		oci_resolved_free(r);
	return ret;
}

int oci_blob_open(const struct oci_resolved *r, const char *digest, struct pupa_err *err)
{
	char path[4400];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", r->blob_dir, digest);
	fd = layout__open(path, &st);
	if (fd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: layer blob %s: %s", r->source,
			       path, layout__why(-fd));
	return fd;
}

void oci_resolved_free(struct oci_resolved *r)
{
	oci_manifest_free(&r->manifest);
	free(r->config);
	r->config = NULL;
}

/* Which paths of an archived layout are taken: the layout's own, nothing else. */
static int archive__wanted(const char *path, int is_dir)
{
	if (is_dir)
		return !strcmp(path, "blobs") || !strcmp(path, "blobs/sha256");
	if (!strcmp(path, "oci-layout") || !strcmp(path, "index.json"))
		return 1;
	return !strncmp(path, "blobs/sha256/", 13) && strlen(path + 13) == DIGEST_HEX_LEN &&
	       strspn(path + 13, "0123456789abcdef") == DIGEST_HEX_LEN;
}

static int archive__file(struct archive *a, int dfd, const char *path, const char *file,
			 struct pupa_err *err)
{
	int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	const void *buf;
	size_t len;
	la_int64_t off;
	int rc, ret = 0;

	if (fd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: entry '%s': %s", file, path,
			       strerror(errno));
	while ((rc = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK && ret == 0)
		if (pwrite(fd, buf, len, off) != (ssize_t)len)
			ret = mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "%s: writing '%s': %s", file,
				      path, strerror(errno));
	if (ret == 0 && rc != ARCHIVE_EOF)
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: entry '%s': %s", file, path,
			      archive_error_string(a));
	close(fd);
	return ret;
}

int oci_archive_extract(const char *file, int dfd, struct pupa_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char path[PATH_MAX];
	const char *why;
	struct stat st;
	int rc, ret = 0, fd = -1;

	if (!a)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	archive_read_support_format_tar(a);
	/* A FIFO in the archive's place would hang the open: a regular file only. */
	fd = layout__open(file, &st);
	if (fd < 0) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file, layout__why(-fd));
		goto out;
	}
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file, archive_error_string(a));
		goto out;
	}
	while (ret == 0 && (rc = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		int is_dir = archive_entry_filetype(e) == AE_IFDIR;

		if (rc < ARCHIVE_WARN) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: not a tar of an OCI "
				      "layout: %s", file, archive_error_string(a));
			break;
		}
		if (unpack_path_normalize(archive_entry_pathname(e) ? archive_entry_pathname(e) : "",
					  path, sizeof(path), &why) < 0) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: entry '%s': %s", file,
				      archive_entry_pathname(e), why);
			break;
		}
		if (!*path || !archive__wanted(path, is_dir))
			continue;	/* a layout holds nothing else pupa reads */
		if (is_dir)
			ret = mkdirat(dfd, path, 0700) < 0 && errno != EEXIST ?
			      mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: '%s': %s", file, path,
				      strerror(errno)) : 0;
		else if (archive_entry_filetype(e) != AE_IFREG)
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				      "%s: entry '%s' is not a regular file", file, path);
		else if (!strncmp(path, "blobs/", 6) && mkdirat(dfd, "blobs", 0700) < 0 &&
			 errno != EEXIST)
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file, strerror(errno));
		else if (!strncmp(path, "blobs/", 6) && mkdirat(dfd, "blobs/sha256", 0700) < 0 &&
			 errno != EEXIST)
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file, strerror(errno));
		else
			ret = archive__file(a, dfd, path, file, err);
	}
out:
	archive_read_free(a);
	if (fd >= 0)
		close(fd);
	return ret;
}
