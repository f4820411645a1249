/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image cache: verification in a child, waiters called with the verdict, failures remembered until the
 * files change. A real sd-event loop, real files, a real forked verifier. */
#include <assert.h>
#include <signal.h>

#include "image-cache.h"
#include "sha256.h"

static char root[] = "/tmp/test-image-cache-XXXXXX";
static unsigned called;

static void write_file(const char *name, const char *contents) {
        _cleanup_free_ char *p = NULL;

        assert(asprintf(&p, "%s/img/%s", root, name) >= 0);
        assert(write_file_atomic(p, contents) >= 0);
}

static void write_image(const char *kernel, const char *initrd) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char k[SHA256_HEX_SIZE], i[SHA256_HEX_SIZE];
        _cleanup_free_ char *manifest = NULL;

        sha256(kernel, strlen(kernel), d);
        sha256_to_hex(d, k);
        sha256(initrd, strlen(initrd), d);
        sha256_to_hex(d, i);
        write_file("vmlinuz", kernel);
        write_file("initrd.img", initrd);
        assert(asprintf(
                       &manifest,
                       "name: img\narch: arm64\nkernel_version: 6.1\ncmdline: \"quiet\"\nfiles:\n"
                       "  kernel:\n    path: vmlinuz\n    size: %zu\n    sha256: %s\n"
                       "  initrd:\n    path: initrd.img\n    size: %zu\n    sha256: %s\n",
                       strlen(kernel),
                       k,
                       strlen(initrd),
                       i) >= 0);
        write_file("manifest.yaml", manifest);
}

static void on_verdict(sd_bus_message *m, void *userdata) {
        assert(!m);
        assert(userdata == &called);
        called++;
}

/* Waits for the verdict of the verification that get() started, with the loop; no sleeps. */
static void wait_verdict(sd_event *e, ImageCache *c) {
        unsigned before = called;

        assert(image_cache_wait(c, "img", NULL, on_verdict, &called) >= 0);
        while (called == before)
                assert(sd_event_run(e, 10 * USEC_PER_SEC) > 0);
}

int main(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(image_cache_freep) ImageCache *c = NULL;
        _cleanup_free_ char *dir = NULL, *error = NULL;
        Image *image;
        sigset_t ss;

        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        assert(sigprocmask(SIG_BLOCK, &ss, NULL) >= 0);
        assert(mkdtemp(root));
        assert(asprintf(&dir, "%s/img", root) >= 0);
        assert(mkdir_p(dir, 0755) >= 0);
        write_image("kernel bytes", "initrd bytes");
        assert(sd_event_default(&e) >= 0);
        assert(image_cache_new(e, root, &c) >= 0);

        /* Nothing to wait for before a verification runs. */
        assert(image_cache_wait(c, "img", NULL, on_verdict, &called) == -ECHILD);

        /* First use: the hashing runs in a child; the caller waits, then finds the image verified. */
        assert(image_cache_get(c, "img", &image, &error) == -EINPROGRESS);
        assert(image_cache_get(c, "img", &image, &error) == -EINPROGRESS); /* one verifier, not two */
        wait_verdict(e, c);
        assert(called == 1);
        assert(image_cache_get(c, "img", &image, &error) == 0);
        assert(streq(image->cmdline, "quiet") && image->has_file[IMAGE_FILE_INITRD]);

        /* A byte changes (same size): verified again, and refused, naming the file. */
        write_image("kernel bytes", "initrd bytes");
        write_file("initrd.img", "initrd bytez");
        assert(image_cache_get(c, "img", &image, &error) == -EINPROGRESS);
        wait_verdict(e, c);
        assert(image_cache_get(c, "img", &image, &error) == -EBADMSG);
        assert(strstr(error, "initrd.img: sha256 mismatch"));
        error = mfree(error);
        /* Remembered: no new verifier until the files change. */
        assert(image_cache_get(c, "img", &image, &error) == -EBADMSG);
        error = mfree(error);
        assert(image_cache_verify_now(c, "img", &error) == -EBADMSG);
        error = mfree(error);

        /* Repaired: the blocking verification (startup) accepts it. */
        write_file("initrd.img", "initrd bytes");
        assert(image_cache_verify_now(c, "img", NULL) == 0);
        assert(image_cache_get(c, "img", &image, NULL) == 0);

        /* Problems the manifest and stat show are reported at once. */
        write_file("initrd.img", "short");
        assert(image_cache_get(c, "img", &image, &error) == -EBADMSG);
        assert(strstr(error, "size mismatch"));
        error = mfree(error);
        assert(image_cache_get(c, "nope", &image, &error) == -ENOENT);

        assert(rm_rf(root) >= 0);
        return 0;
}
