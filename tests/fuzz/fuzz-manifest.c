/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes image_load() with the input as manifest.yaml of an image directory holding a few small files. */
#include <sys/stat.h>

#include "fuzz.h"
#include "image.h"
#include "sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The image is called like the reference image, so the real manifest gets as far as verifying files. */
#define IMAGE_NAME "reference"

/* The files in the image directory; the digests are sha256sum's, not computed by the code under test. */
static const struct {
        const char *name;
        const char *contents;
        const char *sha256;
} image_files[] = {
        { "vmlinuz", "fuzz kernel\n", "9f37dc687f05617b09a965eb9ca5bc039ff5dc9749e963ad0b6d8f46d0b4d7c6" },
        { "initrd.img", "fuzz initrd\n", "4b2c43b8a515a24be1d77dd159814e53eb8e0d8635a761b4b55a20139d45e9ec" },
        { "disk.qcow2", "fuzz disk\n", "fd613f5ebc0d7b0a34fd8a433925f9a00d5b41cba95628071f19b3d029c3c437" },
        { "disk.raw", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
};

static char *root, *dir, *manifest;

static void setup(void) {
        fuzz_check(asprintf(&root, "%s", fuzz_scratch_dir()) >= 0);
        fuzz_check(asprintf(&dir, "%s/" IMAGE_NAME, root) >= 0);
        fuzz_check(asprintf(&manifest, "%s/manifest.yaml", dir) >= 0);
        fuzz_check(mkdir(dir, 0755) >= 0, "mkdir(%s): %m", dir);
        for (size_t k = 0; k < ELEMENTSOF(image_files); k++) {
                _cleanup_free_ char *p = NULL;

                fuzz_check(asprintf(&p, "%s/%s", dir, image_files[k].name) >= 0);
                fuzz_check(fuzz_write_file(p, image_files[k].contents, strlen(image_files[k].contents)) >= 0);
        }
}

static void check_file(const Image *i, ImageFileKind kind) {
        const ImageFile *f = &i->files[kind];
        const char *base;
        char hex[SHA256_HEX_SIZE];

        fuzz_check(f->path);
        /* Inside the image directory, never beside or above it. */
        fuzz_check(strncmp(f->path, dir, strlen(dir)) == 0 && f->path[strlen(dir)] == '/', "%s", f->path);
        base = f->path + strlen(dir) + 1;
        for (size_t k = 0; k < ELEMENTSOF(image_files); k++) {
                if (!streq(base, image_files[k].name))
                        continue;
                /* What was verified is what is on disk. */
                fuzz_check(f->size == strlen(image_files[k].contents));
                fuzz_check(streq(sha256_to_hex(f->sha256, hex), image_files[k].sha256), "%s: %s", base, hex);
                fuzz_check((uint64_t) f->st.st_size == f->size && S_ISREG(f->st.st_mode));
                return;
        }
        fuzz_check(false, "%s verified, but it is not a file of the image", f->path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(image_freep) Image *i = NULL;
        _cleanup_free_ char *error = NULL;
        Image *sentinel = (Image *) &root; /* any non-NULL address, never dereferenced */
        int r;

        if (!root)
                setup();
        fuzz_check(fuzz_write_file(manifest, data, size) >= 0);

        i = sentinel;
        r = image_load(root, IMAGE_NAME, &i, &error);
        if (r < 0) {
                fuzz_check(i == sentinel, "ret written on failure");
                i = NULL;
                /* image.h: a missing file, or a malformed manifest or mismatching file. */
                fuzz_check(IN_SET(r, -ENOENT, -EBADMSG), "error %d (%s)", r, strna(error));
                fuzz_check(error && strstr(error, IMAGE_NAME), "message \"%s\"", strna(error));
                fuzz_check_text("message", error);
                return 0;
        }

        fuzz_check(r == 0);
        fuzz_check(i && i != sentinel);
        fuzz_check(!error, "message on success: %s", error);
        fuzz_check(streq_ptr(i->name, IMAGE_NAME));
        fuzz_check(streq_ptr(i->dir, dir));
        fuzz_check(i->cmdline && strlen(i->cmdline) <= 4096);
        fuzz_check_text("cmdline", i->cmdline);
        /* A persona cannot boot without kernel and initrd. */
        fuzz_check(i->has_file[IMAGE_FILE_KERNEL] && i->has_file[IMAGE_FILE_INITRD]);
        for (ImageFileKind k = 0; k < _IMAGE_FILE_MAX; k++)
                if (i->has_file[k])
                        check_file(i, k);
                else
                        fuzz_check(!i->files[k].path);
        if (i->has_file[IMAGE_FILE_DISK])
                fuzz_check(streq_ptr(i->disk_format, "qcow2") || streq_ptr(i->disk_format, "raw"));
        else
                fuzz_check(!i->disk_format);
        fuzz_check(image_unchanged(i));
        return 0;
}
