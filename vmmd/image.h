/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Persona images: a directory with manifest.yaml naming each file with its size and sha256. */
#pragma once

#include <sys/stat.h>

#include "util.h"

typedef enum ImageFileKind {
        IMAGE_FILE_KERNEL,
        IMAGE_FILE_INITRD,
        IMAGE_FILE_DISK,
        _IMAGE_FILE_MAX,
        _IMAGE_FILE_INVALID = -EINVAL,
} ImageFileKind;

const char *image_file_kind_to_string(ImageFileKind k);
ImageFileKind image_file_kind_from_string(const char *s);

typedef struct ImageFile {
        char *path; /* absolute */
        uint64_t size;
        uint8_t sha256[32];
        struct stat st; /* what was verified, to notice a later change cheaply */
} ImageFile;

typedef struct Image {
        char *name;
        char *dir;
        char *cmdline;     /* kernel command line from the manifest */
        char *disk_format; /* "qcow2" or "raw"; NULL without a disk */
        bool has_file[_IMAGE_FILE_MAX];
        ImageFile files[_IMAGE_FILE_MAX];
} Image;

Image *image_free(Image *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(Image *, image_free);

/* Loads <image_root>/<name>/manifest.yaml and verifies every file's size and sha256.
 * -ENOENT: no such image or a listed file is missing; -EBADMSG: malformed manifest or a checksum or
 * size mismatch (the image is corrupt). ret_error, when not NULL, gets a message naming the file. */
int image_load(const char *image_root, const char *name, Image **ret, char **ret_error);

/* The same in two steps, so that the slow one can run elsewhere: image_load_full() with verify=false
 * parses the manifest and checks each file's type and size, recording its stat; image_verify() then
 * hashes the files, which must still be exactly those (-ESTALE if one changed meanwhile). */
int image_load_full(const char *image_root, const char *name, bool verify, Image **ret, char **ret_error);
int image_verify(const Image *i, char **ret_error);

/* True while none of the image's files changed (by stat) since they were verified. */
bool image_unchanged(const Image *i);
