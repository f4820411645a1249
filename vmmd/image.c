/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Persona images: parsing manifest.yaml and verifying every listed file's size and sha256. */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "image.h"
#include "names.h"
#include "sha256.h"
#include "yaml-util.h"

static const char *const image_file_kind_table[_IMAGE_FILE_MAX] = {
        [IMAGE_FILE_KERNEL] = "kernel",
        [IMAGE_FILE_INITRD] = "initrd",
        [IMAGE_FILE_DISK] = "disk",
};

DEFINE_STRING_TABLE_LOOKUP(image_file_kind, ImageFileKind, _IMAGE_FILE_MAX);

typedef enum DiskFormat {
        DISK_FORMAT_QCOW2,
        DISK_FORMAT_RAW,
        _DISK_FORMAT_MAX,
        _DISK_FORMAT_INVALID = -EINVAL,
} DiskFormat;

static const char *const disk_format_table[_DISK_FORMAT_MAX] = {
        [DISK_FORMAT_QCOW2] = "qcow2",
        [DISK_FORMAT_RAW] = "raw",
};

/* The manifest as written, before its files are verified. */
typedef struct ManifestFile {
        char *path; /* a file name inside the image directory */
        uint64_t size;
        uint8_t sha256[SHA256_DIGEST_SIZE];
        DiskFormat format; /* disk only */
} ManifestFile;

typedef struct Manifest {
        char *name;
        char *arch;
        char *kernel_version;
        char *cmdline;
        ManifestFile files[_IMAGE_FILE_MAX];
} Manifest;

static void manifest_done(Manifest *m) {
        free(m->name);
        free(m->arch);
        free(m->kernel_version);
        free(m->cmdline);
        for (size_t k = 0; k < _IMAGE_FILE_MAX; k++)
                free(m->files[k].path);
}

static int parse_file_name(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        char buf[YAML_QUOTE_MAX];
        const char *s;
        int r;

        r = yaml_node_get_scalar(c, v, "a file name", &s);
        if (r < 0)
                return r;
        /* The files must live in the image directory itself: no absolute paths, no way out. */
        if (s[0] == '/')
                return yaml_error(
                        c,
                        v->line,
                        -EINVAL,
                        "'%s' is an absolute path, expected a file name in the image directory",
                        yaml_quote(s, buf));
        if (strchr(s, '/'))
                return yaml_error(
                        c,
                        v->line,
                        -EINVAL,
                        "'%s' contains '/', expected a file name in the image directory",
                        yaml_quote(s, buf));
        if (streq(s, ".") || streq(s, ".."))
                return yaml_error(c, v->line, -EINVAL, "'%s' is not a file name", s);
        if (streq(s, "manifest.yaml"))
                return yaml_error(c, v->line, -EINVAL, "'%s' is the manifest itself", s);

        return yaml_parse_string(c, v, f, data);
}

static int parse_sha256(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        char buf[YAML_QUOTE_MAX];
        const char *s;
        int r;

        r = yaml_node_get_scalar(c, v, "a sha256 digest", &s);
        if (r < 0)
                return r;
        r = sha256_from_hex(s, (uint8_t *) data + f->offset);
        if (r < 0)
                return yaml_error(
                        c,
                        v->line,
                        -EINVAL,
                        "'%s' is not a sha256 digest (64 hexadecimal digits)",
                        yaml_quote(s, buf));
        return 0;
}

static int parse_arch(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        char buf[YAML_QUOTE_MAX];
        const char *s;
        int r;

        r = yaml_node_get_scalar(c, v, "an architecture", &s);
        if (r < 0)
                return r;
        /* Persona VMs are always arm64 (DESIGN.md). */
        if (!streq(s, "arm64"))
                return yaml_error(
                        c, v->line, -EINVAL, "unsupported architecture '%s', expected arm64", yaml_quote(s, buf));
        return yaml_parse_string(c, v, f, data);
}

/* clang-format off */
#define FILE_FIELDS                                                                                          \
        { "path", parse_file_name, offsetof(ManifestFile, path), true, .max = 255 },                         \
        { "size", yaml_parse_uint64, offsetof(ManifestFile, size), true, 0, INT64_MAX },                     \
        { "sha256", parse_sha256, offsetof(ManifestFile, sha256), true }

static const YamlField boot_file_fields[] = {
        FILE_FIELDS,
        {}
};

static const YamlField disk_file_fields[] = {
        FILE_FIELDS,
        { "format", yaml_parse_enum, offsetof(ManifestFile, format), true, .max = _DISK_FORMAT_MAX,
          .userdata = disk_format_table },
        {}
};

static const YamlField files_fields[] = {
        { "kernel", yaml_parse_section, offsetof(Manifest, files[IMAGE_FILE_KERNEL]), true,
          .userdata = boot_file_fields },
        { "initrd", yaml_parse_section, offsetof(Manifest, files[IMAGE_FILE_INITRD]), true,
          .userdata = boot_file_fields },
        { "disk", yaml_parse_section, offsetof(Manifest, files[IMAGE_FILE_DISK]), false,
          .userdata = disk_file_fields },
        {}
};

static const YamlField manifest_fields[] = {
        { "name", yaml_parse_name, offsetof(Manifest, name), true },
        { "arch", parse_arch, offsetof(Manifest, arch), true },
        { "kernel_version", yaml_parse_string, offsetof(Manifest, kernel_version), .max = 256 },
        { "cmdline", yaml_parse_string, offsetof(Manifest, cmdline), .max = 4096 },
        { "files", yaml_parse_section, 0, true, .userdata = files_fields },
        {}
};
/* clang-format on */

Image *image_free(Image *i) {
        if (!i)
                return NULL;
        free(i->name);
        free(i->dir);
        free(i->cmdline);
        free(i->disk_format);
        for (size_t k = 0; k < _IMAGE_FILE_MAX; k++)
                free(i->files[k].path);
        free(i);
        return NULL;
}

_printf_(3, 4) static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *m;
        int k;

        if (!ret_error)
                return r;
        va_start(ap, fmt);
        k = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (k >= 0) {
                free(*ret_error);
                *ret_error = m;
        }
        return r;
}

static int parse_manifest(int dir_fd, const char *manifest_path, const char *name, Manifest *m, char **ret_error) {
        _cleanup_(yaml_tree_freep) YamlNode *root = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[YAML_QUOTE_MAX];
        int r;

        fd = openat(dir_fd, "manifest.yaml", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return set_error(ret_error, -ENOENT, "image '%s': %s not found", name, manifest_path);
                if (errno == ELOOP)
                        return set_error(
                                ret_error, -EBADMSG, "image '%s': %s is a symbolic link", name, manifest_path);
                return set_error(
                        ret_error, -errno, "image '%s': cannot open %s: %s", name, manifest_path, strerror(errno));
        }

        r = yaml_tree_load_fd(fd, manifest_path, &root, ret_error);
        if (r < 0)
                return r;
        r = yaml_parse_mapping(manifest_path, NULL, root, manifest_fields, m, ret_error);
        if (r < 0)
                return r;

        if (!streq(m->name, name)) {
                YamlContext c = { .path = manifest_path, .key = "name", .ret_error = ret_error };

                return yaml_error(
                        &c,
                        yaml_tree_mapping_get(root, "name")->line,
                        -EINVAL,
                        "'%s' does not match the image directory's name '%s'",
                        yaml_quote(m->name, buf),
                        name);
        }
        return 0;
}

/* Hashes fd and compares with what the manifest says of the file called path. */
static int check_digest(
        int fd,
        const char *name,
        const char *path,
        uint64_t size,
        const uint8_t sha256[static SHA256_DIGEST_SIZE],
        char **ret_error) {
        uint8_t digest[SHA256_DIGEST_SIZE];
        uint64_t n;
        int r;

        r = sha256_fd(fd, digest, &n);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': %s: cannot read: %s", name, path, strerror(-r));
        if (n != size)
                return set_error(
                        ret_error,
                        -EBADMSG,
                        "image '%s': %s: size mismatch (expected %" PRIu64 " bytes, read %" PRIu64 ")",
                        name,
                        path,
                        size,
                        n);
        if (memcmp(digest, sha256, SHA256_DIGEST_SIZE) != 0) {
                char expected[SHA256_HEX_SIZE], got[SHA256_HEX_SIZE];

                return set_error(
                        ret_error,
                        -EBADMSG,
                        "image '%s': %s: sha256 mismatch (expected %s, got %s)",
                        name,
                        path,
                        sha256_to_hex(sha256, expected),
                        sha256_to_hex(digest, got));
        }
        return 0;
}

static int verify_file(
        int dir_fd, const char *name, const ManifestFile *mf, bool hash, ImageFile *ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = openat(dir_fd, mf->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return set_error(ret_error, -ENOENT, "image '%s': %s: file is missing", name, mf->path);
                if (errno == ELOOP)
                        return set_error(
                                ret_error, -EBADMSG, "image '%s': %s: is a symbolic link", name, mf->path);
                return set_error(
                        ret_error, -errno, "image '%s': %s: cannot open: %s", name, mf->path, strerror(errno));
        }
        /* The stat taken before reading is the one kept: a change during hashing then shows later. */
        if (fstat(fd, &st) < 0)
                return set_error(ret_error, -errno, "image '%s': %s: %s", name, mf->path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return set_error(ret_error, -EBADMSG, "image '%s': %s: not a regular file", name, mf->path);
        if ((uint64_t) st.st_size != mf->size)
                return set_error(
                        ret_error,
                        -EBADMSG,
                        "image '%s': %s: size mismatch (expected %" PRIu64 " bytes, got %" PRIu64 ")",
                        name,
                        mf->path,
                        mf->size,
                        (uint64_t) st.st_size);

        if (hash) {
                r = check_digest(fd, name, mf->path, mf->size, mf->sha256, ret_error);
                if (r < 0)
                        return r;
        }

        ret->size = mf->size;
        memcpy(ret->sha256, mf->sha256, SHA256_DIGEST_SIZE);
        ret->st = st;
        return 0;
}

int image_load_full(const char *image_root, const char *name, bool verify, Image **ret, char **ret_error) {
        _cleanup_free_ char *root = NULL, *dir = NULL, *manifest_path = NULL;
        _cleanup_(manifest_done) Manifest m = {};
        _cleanup_(image_freep) Image *i = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        char buf[YAML_QUOTE_MAX];
        const char *reason;
        int r;

        assert(image_root);
        assert(ret);

        /* The name becomes a path component: check it before it is used as one. */
        reason = vm_name_invalid_reason(name);
        if (reason)
                return set_error(
                        ret_error,
                        -EINVAL,
                        "image name '%s' is invalid: %s",
                        yaml_quote(strempty(name), buf),
                        reason);

        if (image_root[0] == '/')
                root = strdup(image_root);
        else {
                _cleanup_free_ char *cwd = get_current_dir_name();

                if (!cwd)
                        return -errno;
                if (asprintf(&root, "%s/%s", cwd, image_root) < 0)
                        root = NULL;
        }
        if (!root || asprintf(&dir, "%s/%s", root, name) < 0 ||
            asprintf(&manifest_path, "%s/manifest.yaml", dir) < 0)
                return -ENOMEM;

        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                if (errno == ENOENT)
                        return set_error(ret_error, -ENOENT, "image '%s': not found in %s", name, root);
                return set_error(
                        ret_error, -errno, "image '%s': cannot open %s: %s", name, dir, strerror(errno));
        }

        m.files[IMAGE_FILE_DISK].format = _DISK_FORMAT_INVALID;
        r = parse_manifest(dir_fd, manifest_path, name, &m, ret_error);
        if (r == -EINVAL) /* content problems: for image.h's callers, a corrupt image */
                r = -EBADMSG;
        if (r < 0)
                return r;

        i = calloc(1, sizeof(Image));
        if (!i)
                return -ENOMEM;
        i->name = strdup(name);
        i->dir = TAKE_PTR(dir);
        i->cmdline = strdup(strempty(m.cmdline));
        if (!i->name || !i->cmdline)
                return -ENOMEM;

        for (ImageFileKind k = 0; k < _IMAGE_FILE_MAX; k++) {
                if (!m.files[k].path)
                        continue;
                r = verify_file(dir_fd, name, &m.files[k], verify, &i->files[k], ret_error);
                if (r < 0)
                        return r;
                if (asprintf(&i->files[k].path, "%s/%s", i->dir, m.files[k].path) < 0)
                        return -ENOMEM;
                i->has_file[k] = true;
        }
        if (i->has_file[IMAGE_FILE_DISK]) {
                i->disk_format = strdup(disk_format_table[m.files[IMAGE_FILE_DISK].format]);
                if (!i->disk_format)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(i);
        return 0;
}

int image_load(const char *image_root, const char *name, Image **ret, char **ret_error) {
        return image_load_full(image_root, name, true, ret, ret_error);
}

/* The ctime catches writes that restored the mtime afterwards. */
static bool stat_same(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
                a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
                a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

bool image_unchanged(const Image *i) {
        assert(i);

        for (size_t k = 0; k < _IMAGE_FILE_MAX; k++) {
                struct stat b;

                if (!i->has_file[k])
                        continue;
                /* lstat: the file was opened with O_NOFOLLOW, so a symlink in its place is a change. */
                if (lstat(i->files[k].path, &b) < 0 || !stat_same(&i->files[k].st, &b))
                        return false;
        }
        return true;
}

int image_verify(const Image *i, char **ret_error) {
        assert(i);

        for (size_t k = 0; k < _IMAGE_FILE_MAX; k++) {
                const ImageFile *f = &i->files[k];
                _cleanup_close_ int fd = -EBADF;
                struct stat st;
                int r;

                if (!i->has_file[k])
                        continue;
                fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return set_error(
                                ret_error, -errno, "image '%s': %s: %s", i->name, f->path, strerror(errno));
                /* What is hashed must be the very file that was looked at when the image was loaded. */
                if (!stat_same(&f->st, &st))
                        return set_error(
                                ret_error,
                                -ESTALE,
                                "image '%s': %s changed while it was verified",
                                i->name,
                                f->path);
                r = check_digest(fd, i->name, f->path, f->size, f->sha256, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}
