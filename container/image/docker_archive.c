/*
 * docker save archives and skopeo's way to Podman's and Docker's stores
 * (docker_archive.h), each turned into an OCI image layout in tmp/.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "decompress.h"
#include "digest.h"
#include "docker_archive.h"
#include "oci.h"
#include "pull_oci.h"
#include "reference.h"
#include "run_tool.h"
#include "unpack.h"

/* ---- manifest.json ------------------------------------------------------------------ */

/* A path inside the archive, as the tar names it: relative, no "..". */
static char *da__path(json_t *v, const char *what, char *why, size_t wlen)
{
	char norm[DOCKER_ARCHIVE_PATH_MAX];
	const char *s = json_string_value(v), *bad;
	char *out;

	if (!s || !*s || strlen(s) >= DOCKER_ARCHIVE_PATH_MAX) {
		snprintf(why, wlen, "manifest.json: %s is not a path of 1 to %d bytes", what,
			 DOCKER_ARCHIVE_PATH_MAX - 1);
		return NULL;
	}
	if (unpack_path_normalize(s, norm, sizeof(norm), &bad) < 0) {
		snprintf(why, wlen, "manifest.json: %s '%.200s': %s", what, s, bad);
		return NULL;
	}
	if (!*norm) {
		snprintf(why, wlen, "manifest.json: %s '%.200s' names no file", what, s);
		return NULL;
	}
	out = strdup(norm);
	if (!out)
		snprintf(why, wlen, "out of memory");
	return out;
}

static int da__image(json_t *o, struct docker_archive_image *im, char *why, size_t wlen)
{
	json_t *layers = json_object_get(o, "Layers"), *tags = json_object_get(o, "RepoTags"), *v;
	size_t i;

	if (!json_is_object(o)) {
		snprintf(why, wlen, "manifest.json: an entry is not an object");
		return -1;
	}
	im->config = da__path(json_object_get(o, "Config"), "Config", why, wlen);
	if (!im->config)
		return -1;
	if (!json_is_array(layers) || json_array_size(layers) > OCI_LAYERS_MAX) {
		snprintf(why, wlen, "manifest.json: Layers is not a list of at most %d paths",
			 OCI_LAYERS_MAX);
		return -1;
	}
	if (tags && !json_is_null(tags) &&
	    (!json_is_array(tags) || json_array_size(tags) > DOCKER_ARCHIVE_TAGS_MAX)) {
		snprintf(why, wlen, "manifest.json: RepoTags is not a list of at most %d names",
			 DOCKER_ARCHIVE_TAGS_MAX);
		return -1;
	}
	im->layers = calloc(json_array_size(layers) + 1, sizeof(*im->layers));
	im->tags = calloc(json_array_size(tags) + 1, sizeof(*im->tags));
	if (!im->layers || !im->tags) {
		snprintf(why, wlen, "out of memory");
		return -1;
	}
	json_array_foreach(layers, i, v) {
		im->layers[i] = da__path(v, "a layer", why, wlen);
		if (!im->layers[i])
			return -1;
		im->n_layers++;
	}
	json_array_foreach(tags, i, v) {
		const char *t = json_string_value(v);

		if (!t || !*t || strlen(t) >= REF_NAME_MAX + REF_HOST_MAX) {
			snprintf(why, wlen, "manifest.json: a RepoTags entry is not a name");
			return -1;
		}
		im->tags[i] = strdup(t);
		if (!im->tags[i]) {
			snprintf(why, wlen, "out of memory");
			return -1;
		}
		im->n_tags++;
	}
	return 0;
}

int docker_archive_manifest_parse(const char *json, size_t len,
				  struct docker_archive_manifest *m, char *why, size_t wlen)
{
	json_error_t jerr;
	json_t *root, *v;
	size_t i;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	if (len > OCI_DOC_MAX) {
		snprintf(why, wlen, "manifest.json is %zu bytes (at most %u)", len, OCI_DOC_MAX);
		return -1;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(why, wlen, "manifest.json: not JSON: %s (line %d)", jerr.text, jerr.line);
		return -1;
	}
	if (!json_is_array(root) || json_array_size(root) == 0 ||
	    json_array_size(root) > DOCKER_ARCHIVE_IMAGES_MAX) {
		snprintf(why, wlen, "manifest.json is not a list of 1 to %d images",
			 DOCKER_ARCHIVE_IMAGES_MAX);
		json_decref(root);
		return -1;
	}
	m->images = calloc(json_array_size(root), sizeof(*m->images));
	if (!m->images) {
		snprintf(why, wlen, "out of memory");
		ret = -1;
	}
	json_array_foreach(root, i, v) {
		if (ret < 0)
			break;
		m->n++;
		ret = da__image(v, &m->images[i], why, wlen);
	}
	json_decref(root);
	if (ret < 0)
		docker_archive_manifest_free(m);
	return ret;
}

void docker_archive_manifest_free(struct docker_archive_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct docker_archive_image *im = &m->images[i];

		free(im->config);
		for (size_t j = 0; im->layers && j < im->n_layers; j++)
			free(im->layers[j]);
		for (size_t j = 0; im->tags && j < im->n_tags; j++)
			free(im->tags[j]);
		free(im->layers);
		free(im->tags);
	}
	free(m->images);
	memset(m, 0, sizeof(*m));
}

/* A tag and a reference name the same image: as typed, or both normalised. */
static int da__same_ref(const char *tag, const char *ref)
{
	char a[1024], b[1024];
	struct image_ref x, y;
	const char *why;

	if (strcmp(tag, ref) == 0)
		return 1;
	if (image_ref_parse(tag, &x, &why) < 0 || image_ref_parse(ref, &y, &why) < 0)
		return 0;
	image_ref_format(&x, a, sizeof(a));
	image_ref_format(&y, b, sizeof(b));
	return strcmp(a, b) == 0;
}

int docker_archive_pick(const struct docker_archive_manifest *m, const char *ref, size_t *which,
			char *why, size_t wlen)
{
	char names[512] = "";

	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < m->images[i].n_tags; j++) {
			if (ref[0] && da__same_ref(m->images[i].tags[j], ref)) {
				*which = i;
				return 0;
			}
			if (strlen(names) + strlen(m->images[i].tags[j]) + 3 < sizeof(names))
				snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
					 names[0] ? ", " : "", m->images[i].tags[j]);
		}
	if (!ref[0] && m->n == 1) {
		*which = 0;
		return 0;
	}
	if (ref[0])
		snprintf(why, wlen, "the archive has no image tagged '%s' (it has: %s)", ref,
			 names[0] ? names : "no tagged images");
	else
		snprintf(why, wlen, "the archive holds %zu images: name one as "
			 "docker-archive:FILE:NAME:TAG (it has: %s)", m->n,
			 names[0] ? names : "no tagged images");
	return -1;
}

/* ---- the tar -------------------------------------------------------------------------- */

static struct archive *da__open(const char *file, struct pupa_err *err)
{
	struct archive *a = archive_read_new();

	if (!a) {
		mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
		return NULL;
	}
	/* docker save | gzip is common; the layers inside are read as they are.
	 * Never a filter that runs a program (decompress.h). */
	if (decompress_filters_add(a)) {
		if (err)
			mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: this libarchive "
				"decompresses only with external programs", file);
		archive_read_free(a);
		return NULL;
	}
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK) {
		if (err)
			mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file,
				archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static int da__hex_name(const char *s, size_t len)
{
	return len == DIGEST_HEX_LEN && strspn(s, "0123456789abcdef") >= DIGEST_HEX_LEN;
}

/* What a docker save archive has at its root, old format and new. */
static int da__root_name_ok(const char *path)
{
	size_t first = strcspn(path, "/");
	static const char *const names[] = { "manifest.json", "repositories", "index.json",
					     "oci-layout", "blobs" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (first == strlen(names[i]) && strncmp(path, names[i], first) == 0)
			return 1;
	if (da__hex_name(path, first))
		return 1;
	/* <id>.json, the config, and skopeo's <digest>.tar layers */
	return path[first] == '\0' && first > DIGEST_HEX_LEN && da__hex_name(path, DIGEST_HEX_LEN) &&
	       (strcmp(path + DIGEST_HEX_LEN, ".json") == 0 || strcmp(path + DIGEST_HEX_LEN, ".tar") == 0);
}

int docker_archive_sniff(const char *path)
{
	struct archive *a = da__open(path, NULL);
	struct archive_entry *e;
	char norm[PATH_MAX];
	const char *why;
	int manifest = 0, repositories = 0, entries = 0;

	if (!a)
		return 0;
	/* The first entry a root filesystem has and such an archive has not ends it. */
	while (!(manifest && repositories) && entries++ < 100000 &&
	       archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(e);

		if (!p || unpack_path_normalize(p, norm, sizeof(norm), &why) < 0)
			break;
		if (!*norm)
			continue;
		if (!da__root_name_ok(norm))
			break;
		manifest |= strcmp(norm, "manifest.json") == 0;
		repositories |= strcmp(norm, "repositories") == 0;
	}
	archive_read_free(a);
	return manifest && repositories;
}

/* The first pass: manifest.json alone. */
static int da__read_manifest(const char *file, char **json, size_t *len, struct pupa_err *err)
{
	struct archive *a = da__open(file, err);
	struct archive_entry *e;
	char norm[PATH_MAX];
	const char *why;
	int rc, ret = 1;

	*json = NULL;
	if (!a)
		return -1;
	while (ret == 1 && (rc = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		la_int64_t size;
		ssize_t n;

		if (rc < ARCHIVE_WARN) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: not a docker save "
				      "archive: %s", file, archive_error_string(a));
			break;
		}
		if (!archive_entry_pathname(e) ||
		    unpack_path_normalize(archive_entry_pathname(e), norm, sizeof(norm), &why) < 0 ||
		    strcmp(norm, "manifest.json") != 0)
			continue;
		size = archive_entry_size(e);
		if (archive_entry_filetype(e) != AE_IFREG || size < 0 || size > OCI_DOC_MAX) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: manifest.json is not a "
				      "regular file of at most %u bytes", file, OCI_DOC_MAX);
			break;
		}
		*json = malloc((size_t)size + 1);
		n = *json ? archive_read_data(a, *json, (size_t)size) : -1;
		if (n != size) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: reading manifest.json: %s",
				      file, *json ? archive_error_string(a) : "out of memory");
			break;
		}
		(*json)[size] = '\0';
		*len = (size_t)size;
		ret = 0;
	}
	if (ret == 1)
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "%s: no manifest.json at its root: not a docker save archive", file);
	if (ret < 0) {
		free(*json);
		*json = NULL;
	}
	archive_read_free(a);
	return ret;
}

/* One file the image needs, and what it became in blobs/sha256. */
struct da_want {
	const char *path;
	char digest[DIGEST_HEX_LEN + 1];
	uint64_t size;
	int found;
};

/* The entry's bytes into blobs/sha256/<its SHA-256> below dfd. */
static int da__copy(struct archive *a, int dfd, const char *file, struct da_want *w,
		    uint64_t *budget, struct pupa_err *err)
{
	static const char tmp[] = "blobs/sha256/.incoming";
	unsigned char buf[65536];
	struct digest *d = digest_new();
	char dest[128];
	ssize_t n;
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	int ret = 0;

	if (fd < 0 || !d) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "%s: cannot write '%s': %s", file,
			      w->path, strerror(errno));
		goto out;
	}
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		if ((uint64_t)n > *budget) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				      "%s: '%s' makes the image's files larger than --limit size "
				      "allows", file, w->path);
			goto out;
		}
		*budget -= (uint64_t)n;
		digest_update(d, buf, (size_t)n);
		if (write(fd, buf, (size_t)n) != n) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "%s: writing '%s': %s", file,
				      w->path, strerror(errno ? errno : EIO));
			goto out;
		}
		w->size += (uint64_t)n;
	}
	if (n < 0) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: reading '%s': %s", file,
			      w->path, archive_error_string(a));
		goto out;
	}
	digest_hex(d, w->digest);
	snprintf(dest, sizeof(dest), "blobs/sha256/%s", w->digest);
	if (renameat(dfd, tmp, dfd, dest) < 0)
		ret = mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "%s: %s: %s", file, dest,
			      strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlinkat(dfd, tmp, 0);
	digest_free(d);
	return ret;
}

/* The second pass: the config and layers into blobs/, each entry once. */
static int da__extract(const char *file, struct da_want *w, size_t n, int dfd,
		       const struct unpack_limits *lim, struct pupa_err *err)
{
	struct archive *a = da__open(file, err);
	struct archive_entry *e;
	char norm[PATH_MAX];
	const char *why;
	/* Layers are tars of the files: their data plus headers, padding. */
	uint64_t budget = lim->size ? lim->size + lim->size / 4 + (64u << 20) : UINT64_MAX;
	int rc, ret = 0;

	if (!a)
		return -1;
	while (ret == 0 && (rc = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (rc < ARCHIVE_WARN) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file,
				      archive_error_string(a));
			break;
		}
		if (!archive_entry_pathname(e) ||
		    unpack_path_normalize(archive_entry_pathname(e), norm, sizeof(norm), &why) < 0)
			continue;	/* nothing manifest.json names: its paths are normal */
		for (size_t i = 0; ret == 0 && i < n; i++) {
			if (strcmp(w[i].path, norm) != 0)
				continue;
			if (w[i].found)
				ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
					      "%s: entry '%s' appears twice", file, norm);
			else if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
				/* a hard link's entry has no data of its own */
				ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
					      "%s: entry '%s' is not a regular file", file, norm);
			else
				ret = da__copy(a, dfd, file, &w[i], &budget, err);
			w[i].found = 1;
			/* The same path named twice (a layer repeated): one copy for both. */
			for (size_t j = i + 1; ret == 0 && j < n; j++)
				if (strcmp(w[j].path, norm) == 0)
					w[j] = w[i];
			break;
		}
	}
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (!w[i].found)
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				      "%s: manifest.json names '%s', which the archive does not have",
				      file, w[i].path);
	archive_read_free(a);
	return ret;
}

static const char *da__layer_type(int dfd, const char *digest)
{
	unsigned char magic[4] = { 0 };
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "blobs/sha256/%s", digest);
	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		if (read(fd, magic, sizeof(magic)) < 0)
			memset(magic, 0, sizeof(magic));
		close(fd);
	}
	if (magic[0] == 0x1f && magic[1] == 0x8b)
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	return "application/vnd.oci.image.layer.v1.tar";
}

/* A small file below dfd, its digest given back (for a blob) if asked. */
static int da__write(int dfd, const char *name, const char *text, char *digest,
		     struct pupa_err *err)
{
	char path[128];
	size_t len = strlen(text);
	int fd;

	if (digest) {
		digest_string(text, digest);
		snprintf(path, sizeof(path), "blobs/sha256/%s", digest);
		name = path;
	}
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		int e = errno ? errno : EIO;

		if (fd >= 0)
			close(fd);
		return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "cannot write %s: %s", name,
			       strerror(e));
	}
	close(fd);
	return 0;
}

/* The manifest, index.json and oci-layout that make dfd a layout of one image. */
static int da__layout(int dfd, const struct da_want *w, size_t n, struct pupa_err *err)
{
	char digest[DIGEST_HEX_LEN + 1], d[DIGEST_HEX_LEN + 8], *text;
	json_t *layers = json_array(), *m;
	int ret;

	for (size_t i = 1; layers && i < n; i++) {
		snprintf(d, sizeof(d), "sha256:%s", w[i].digest);
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
							da__layer_type(dfd, w[i].digest),
							"digest", d, "size", (json_int_t)w[i].size));
	}
	snprintf(d, sizeof(d), "sha256:%s", w[0].digest);
	m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
		      OCI_MT_MANIFEST, "config", "mediaType",
		      "application/vnd.oci.image.config.v1+json", "digest", d, "size",
		      (json_int_t)w[0].size, "layers", layers);
	text = m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(m);
	if (!text)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	ret = da__write(dfd, NULL, text, digest, err);
	if (ret == 0) {
		char index[512];

		snprintf(index, sizeof(index), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
			 "\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu}]}", OCI_MT_MANIFEST, digest,
			 strlen(text));
		ret = da__write(dfd, "index.json", index, NULL, err);
	}
	free(text);
	return ret < 0 ? ret : da__write(dfd, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}",
					 NULL, err);
}

/* FILE's image REF as an OCI layout below dfd. */
static int da__to_layout(const char *file, const char *ref, int dfd,
			 const struct unpack_limits *lim, struct pupa_err *err)
{
	struct docker_archive_manifest m;
	struct da_want *w = NULL;
	char *json, why[600];
	size_t len = 0, which = 0, n = 0;
	int ret;

	ret = da__read_manifest(file, &json, &len, err);
	if (ret < 0)
		return ret;
	ret = docker_archive_manifest_parse(json, len, &m, why, sizeof(why));
	free(json);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file, why);
	ret = docker_archive_pick(&m, ref, &which, why, sizeof(why));
	if (ret < 0) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file, why);
		goto out;
	}
	n = 1 + m.images[which].n_layers;
	w = calloc(n, sizeof(*w));
	if (!w) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
		goto out;
	}
	w[0].path = m.images[which].config;
	for (size_t i = 1; i < n; i++)
		w[i].path = m.images[which].layers[i - 1];
	if ((mkdirat(dfd, "blobs", 0700) < 0 && errno != EEXIST) ||
	    (mkdirat(dfd, "blobs/sha256", 0700) < 0 && errno != EEXIST))
		ret = mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "cannot create blobs/: %s",
			      strerror(errno));
	else
		ret = da__extract(file, w, n, dfd, lim, err);
	if (ret == 0 && w[0].size > OCI_DOC_MAX)
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: the config '%s' is %llu "
			      "bytes (at most %u)", file, w[0].path, (unsigned long long)w[0].size,
			      OCI_DOC_MAX);
	if (ret == 0)
		ret = da__layout(dfd, w, n, err);
out:
	free(w);
	docker_archive_manifest_free(&m);
	return ret;
}

/* ---- a layout in tmp/, pulled, removed ---------------------------------------------- */

/* tmp/NAME-XXXXXX, locked while in use: a pupa killed meanwhile leaves it
 * to the next one's clean-up. Returns its fd, dir gets the path. */
static int da__tmpdir(const struct cache *c, const char *name, char *dir, size_t len,
		      struct pupa_err *err)
{
	int dfd;

	cache_path(c, dir, len, "tmp/%s-XXXXXX", name);
	if (!mkdtemp(dir))
		return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "cannot create %s: %s", dir,
			       strerror(errno));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
		int e = errno;

		if (dfd >= 0)
			close(dfd);
		rmdir(dir);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot lock %s: %s", dir,
			       strerror(e));
	}
	return dfd;
}

static void da__tmpdir_remove(const char *dir, int dfd)
{
	cache_rmtree_path(dir, 4);
	close(dfd);
}

/* The SHA-256 of the archive file's bytes. */
static int da__file_digest(const char *file, char *hex, struct pupa_err *err)
{
	unsigned char buf[65536];
	struct digest *d = digest_new();
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	while (fd >= 0 && d && (n = read(fd, buf, sizeof(buf))) > 0)
		digest_update(d, buf, (size_t)n);
	if (n == 0)
		digest_hex(d, hex);
	if (fd >= 0)
		close(fd);
	digest_free(d);
	return n == 0 ? 0 : mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", file,
				    d ? strerror(errno) : "out of memory");
}

/*
 * A pin (IMAGE@sha256:, --sha256) names the archive's bytes, checked
 * before anything is read from it, or else the image made of it (the
 * digest pull prints), checked once its manifest is made.
 */
static int da__pin(const char *file, const char *pin, const struct pull_options *o,
		   struct pull_options *lo, struct pupa_err *err)
{
	char got[DIGEST_HEX_LEN + 1];
	const char *want = pin && *pin ? pin : o->sha256;

	*lo = *o;
	if (pin && *pin && o->sha256 && strcmp(pin, o->sha256) != 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--sha256 and %s name different digests", o->image);
	if (!want)
		return 0;
	if (da__file_digest(file, got, err) < 0)
		return -1;
	lo->sha256 = strcmp(got, want) == 0 ? NULL : want;
	return 0;
}

int pull_docker_archive(const struct cache *c, const struct pull_options *o, const char *file,
			const char *ref, const char *pin, const char *source,
			struct pull_result *res, struct pupa_err *err)
{
	char dir[4200], layout[4300];
	struct pull_options lo;
	int dfd, ret;

	memset(res, 0, sizeof(*res));
	res->failed_stage = CONTAINER_STATUS_DOWNLOADING;
	if (da__pin(file, pin, o, &lo, err) < 0)
		return -1;
	dfd = da__tmpdir(c, "docker-archive", dir, sizeof(dir), err);
	if (dfd < 0)
		return dfd;
	ret = da__to_layout(file, ref ? ref : "", dfd, &o->limits, err);
	snprintf(layout, sizeof(layout), "oci:%s", dir);
	if (ret == 0)
		ret = pull_oci_layout_as(c, &lo, layout, source, res, err);
	da__tmpdir_remove(dir, dfd);
	return ret;
}

int pull_skopeo(const struct cache *c, const struct pull_options *o, struct pull_result *res,
		struct pupa_err *err)
{
	char dir[4200], dest[4300], layout[4300], out[512] = "";
	const char *transport = o->image;
	size_t tlen = strcspn(o->image, ":");
	int dfd, rc, ret;

	memset(res, 0, sizeof(*res));
	res->failed_stage = CONTAINER_STATUS_DOWNLOADING;
	if (!o->image[tlen] || !o->image[tlen + 1])
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: no image name after "
			       "'%.*s:'", o->image, (int)tlen, transport);
	dfd = da__tmpdir(c, "skopeo", dir, sizeof(dir), err);
	if (dfd < 0)
		return dfd;
	snprintf(dest, sizeof(dest), "oci:%s:pupa", dir);
	{
		const char *argv[] = { "skopeo", "copy", "--quiet", o->image, dest, NULL };

		rc = run_tool(argv, out, sizeof(out));
	}
	if (rc == 127)
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "image %s: %.*s: images are read through skopeo, which is not "
			      "installed (Debian package skopeo)", o->image, (int)tlen, transport);
	else if (rc != 0)
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: skopeo copy failed "
			      "(status %d): %s", o->image, rc, out[0] ? out : "no message");
	else
		ret = 0;
	snprintf(layout, sizeof(layout), "oci:%s:pupa", dir);
	if (ret == 0)
		ret = pull_oci_layout_as(c, o, layout, o->image, res, err);
	da__tmpdir_remove(dir, dfd);
	return ret;
}
