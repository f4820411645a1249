/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The qcow2 snapshot table: files made and changed by the real qemu-img, then damaged ones. */
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "qcow2.h"
#include "util.h"

static char root[] = "/tmp/test-qcow2-XXXXXX";

static void run(const char *fmt, ...) _printf_(1, 2);
static void run(const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;

        va_start(ap, fmt);
        assert(vasprintf(&cmd, fmt, ap) >= 0);
        va_end(ap);
        if (system(cmd) != 0) {
                fprintf(stderr, "failed: %s\n", cmd);
                abort();
        }
}

static uint64_t now_realtime_usec(void) {
        struct timespec ts;

        assert(clock_gettime(CLOCK_REALTIME, &ts) == 0);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static char *copy_file(const char *from, const char *name) {
        char *to;

        assert(asprintf(&to, "%s/%s", root, name) >= 0);
        run("cp '%s' '%s'", from, to);
        return to;
}

/* Overwrites bytes of a file. */
static void poke(const char *path, uint64_t offset, const void *data, size_t n) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        assert(fd >= 0);
        assert(pwrite(fd, data, n, (off_t) offset) == (ssize_t) n);
}

static uint64_t read_be64(const char *path, uint64_t offset) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint64_t v;

        assert(fd >= 0);
        assert(pread(fd, &v, sizeof(v), (off_t) offset) == sizeof(v));
        return be64toh(v);
}

static void expect_bad(const char *path) {
        Qcow2Snapshot *s = NULL;
        size_t n = 0;

        assert(qcow2_read_snapshots_at(path, &s, &n) == -EBADMSG);
        assert(!s);
}

static void test_qemu_img(const char *compat) {
        _cleanup_free_ char *disk = NULL;
        Qcow2Snapshot *s = NULL;
        uint64_t before, after;
        size_t n = 99;

        assert(asprintf(&disk, "%s/disk-%s.qcow2", root, compat) >= 0);
        run("qemu-img create -q -f qcow2 -o compat=%s '%s' 16M", compat, disk);
        assert(qcow2_read_snapshots_at(disk, &s, &n) == 0);
        assert(n == 0 && !s);

        before = now_realtime_usec() / 1000000U * 1000000U; /* qemu-img's clock may lag ours by a tick */
        run("qemu-img snapshot -c first '%s' && qemu-img snapshot -c 'zweiter Schnappschuss' '%s'", disk, disk);
        after = now_realtime_usec();
        assert(qcow2_read_snapshots_at(disk, &s, &n) == 0);
        assert(n == 2);
        assert(streq(s[0].name, "first"));
        assert(streq(s[1].name, "zweiter Schnappschuss"));
        for (size_t i = 0; i < n; i++) {
                assert(s[i].created_usec >= before && s[i].created_usec <= after);
                assert(s[i].vm_state_size == 0); /* disk-only */
        }
        assert(qcow2_snapshot_find(s, n, "first") == s);
        assert(!qcow2_snapshot_find(s, n, "firs"));
        qcow2_snapshots_free(s, n);

        run("qemu-img snapshot -d first '%s'", disk);
        assert(qcow2_read_snapshots_at(disk, &s, &n) == 0);
        assert(n == 1 && streq(s[0].name, "zweiter Schnappschuss"));
        qcow2_snapshots_free(s, n);
}

static void test_damaged(void) {
        _cleanup_free_ char *good = NULL;
        char *p;
        uint64_t table;
        uint32_t v;

        assert(asprintf(&good, "%s/good.qcow2", root) >= 0);
        run("qemu-img create -q -f qcow2 '%s' 16M && qemu-img snapshot -c one '%s'", good, good);
        table = read_be64(good, 64);
        assert(table > 0);

        /* Not qcow2 at all. */
        p = copy_file("/dev/null", "empty");
        expect_bad(p);
        free(p);

        /* What a VMM could put in place of its disk: never followed, never waited on. */
        Qcow2Snapshot *s = NULL;
        size_t n = 0;
        assert(qcow2_read_snapshots_at("/dev/null", &s, &n) == -EBADFD);
        assert(asprintf(&p, "%s/fifo", root) >= 0);
        assert(mkfifo(p, 0600) == 0);
        assert(qcow2_read_snapshots_at(p, &s, &n) == -EBADFD); /* would block forever if opened plainly */
        free(p);
        assert(asprintf(&p, "%s/link", root) >= 0);
        assert(symlink(good, p) == 0);
        assert(qcow2_read_snapshots_at(p, &s, &n) == -EBADFD);
        assert(!s && n == 0);
        free(p);
        p = copy_file(good, "magic");
        poke(p, 0, "QFI\xfa", 4);
        expect_bad(p);
        free(p);
        p = copy_file(good, "version");
        v = htobe32(4);
        poke(p, 4, &v, 4);
        expect_bad(p);
        free(p);

        /* A table beyond the end of the file, or more entries than it holds. */
        p = copy_file(good, "offset");
        poke(p, 64, &(uint64_t){ htobe64(UINT64_C(1) << 40) }, 8);
        expect_bad(p);
        free(p);
        p = copy_file(good, "count");
        v = htobe32(60000); /* the file ends long before */
        poke(p, 60, &v, 4);
        expect_bad(p);
        free(p);
        p = copy_file(good, "too-many");
        v = htobe32(65537);
        poke(p, 60, &v, 4);
        expect_bad(p);
        free(p);

        /* Entry fields: extra data over QEMU's limit, nanoseconds of a second or more, a name with NUL. */
        p = copy_file(good, "extra");
        v = htobe32(1025);
        poke(p, table + 36, &v, 4);
        expect_bad(p);
        free(p);
        p = copy_file(good, "nsec");
        v = htobe32(1000000000);
        poke(p, table + 20, &v, 4);
        expect_bad(p);
        free(p);
        p = copy_file(good, "nul");
        {
                uint32_t extra = be32toh(0);
                uint16_t id_size;
                _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);

                assert(fd >= 0);
                assert(pread(fd, &extra, 4, (off_t) table + 36) == 4);
                assert(pread(fd, &id_size, 2, (off_t) table + 12) == 2);
                poke(p, table + 40 + be32toh(extra) + be16toh(id_size) + 1, "", 1); /* "o\0e" */
        }
        expect_bad(p);
        free(p);

        /* A file that ends inside the table. */
        p = copy_file(good, "truncated");
        assert(truncate(p, (off_t) table + 20) == 0);
        expect_bad(p);
        free(p);
}

int main(void) {
        assert(mkdtemp(root));
        test_qemu_img("1.1");
        test_qemu_img("0.10");
        test_damaged();
        run("rm -rf '%s'", root);
        return 0;
}
