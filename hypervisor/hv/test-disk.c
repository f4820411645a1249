/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's disks: a raw file reads and writes as a file does, and refuses writes when read-only; an overlay
 * reads its backing file until a cluster is written, copies the rest of that cluster up, never changes the
 * backing file, keeps its data across a reopen, loses only what was not flushed when its VMM dies, and
 * refuses a backing file of another size and every damaged header field. */
#include <assert.h>
#include <endian.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "disk.h"
#include "util.h"

/* 16 whole clusters and a last one of 3 sectors. */
#define BACKING_SIZE (16ull * DISK_OVERLAY_CLUSTER_SIZE + 3 * 512)
#define CLUSTERS 17u
#define DATA_OFFSET DISK_OVERLAY_CLUSTER_SIZE /* header and a 3-byte bitmap fit in the first cluster */

static char dir[] = "/tmp/test-hv-disk.XXXXXX";
static char backing_path[64], overlay_path[64], raw_path[64];

static uint64_t splitmix64(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) splitmix64(&seed);
}

static void write_file(const char *path, const void *data, size_t size) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert(fd >= 0);
        assert(pwrite_full(fd, data, size, 0) == 0);
}

static uint8_t *read_file(const char *path, size_t *ret_size) {
        char *p = NULL;

        assert(read_full_file(path, &p, ret_size) >= 0);
        return (uint8_t *) p;
}

static uint64_t file_size(const char *path) {
        struct stat st;

        assert(stat(path, &st) == 0);
        return (uint64_t) st.st_size;
}

static void pread_at(Disk *d, uint64_t offset, void *buf, size_t len) {
        assert(disk_read(d, offset, &(struct iovec){ buf, len }, 1) == 0);
}

/* Writes through three iovecs of uneven sizes, so that copy-up and slicing see buffers split anywhere. */
static int write_split(Disk *d, uint64_t offset, const uint8_t *buf, size_t len) {
        size_t a = len / 3, b = len / 2 - len / 5;
        struct iovec iov[3] = {
                { (void *) buf, a },
                { (void *) (buf + a), b },
                { (void *) (buf + a + b), len - a - b },
        };

        return disk_write(d, offset, iov, 3);
}

static uint8_t *backing_data(void) {
        static uint8_t *data;

        if (!data) {
                data = malloc(BACKING_SIZE);
                assert(data);
                fill_random(data, BACKING_SIZE, 42);
        }
        return data;
}

/* A fresh backing file and an empty overlay file, as vmmd leaves them. */
static void make_files(void) {
        write_file(backing_path, backing_data(), BACKING_SIZE);
        write_file(overlay_path, "", 0);
}

static void test_raw(void) {
        _cleanup_free_ uint8_t *data = malloc(BACKING_SIZE), *buf = malloc(BACKING_SIZE), *back = NULL;
        Disk *d;
        char *error = NULL;
        size_t n;

        assert(data && buf);
        fill_random(data, BACKING_SIZE, 7);
        write_file(raw_path, data, BACKING_SIZE);
        assert(disk_open_raw(raw_path, false, &d, NULL) == 0);
        assert(disk_size(d) == BACKING_SIZE && !disk_read_only(d));

        /* Reads through several buffers, writes that land where they say. */
        struct iovec iov[2] = { { buf, 1000 }, { buf + 1000, 3096 } };
        assert(disk_read(d, 8192, iov, 2) == 0);
        assert(memcmp(buf, data + 8192, 4096) == 0);
        fill_random(buf, 70000, 8);
        assert(write_split(d, 512 * 77, buf, 70000) == 0);
        memcpy(data + 512 * 77, buf, 70000);
        /* The last byte may be written, nothing past it: no partial success either. */
        assert(write_split(d, BACKING_SIZE - 512, buf, 512) == 0);
        memcpy(data + BACKING_SIZE - 512, buf, 512);
        assert(write_split(d, BACKING_SIZE - 512, buf, 1024) == -EINVAL);
        assert(disk_read(d, BACKING_SIZE, &(struct iovec){ buf, 1 }, 1) == -EINVAL);
        assert(disk_read(d, UINT64_MAX - 10, &(struct iovec){ buf, 512 }, 1) == -EINVAL);
        assert(disk_flush(d) == 0);
        disk_free(d);
        back = read_file(raw_path, &n);
        assert(n == BACKING_SIZE && memcmp(back, data, n) == 0);

        /* Read-only: reads work, writes are refused and change nothing. */
        assert(disk_open_raw(raw_path, true, &d, NULL) == 0);
        assert(disk_read_only(d));
        pread_at(d, 512 * 77, buf, 512);
        assert(memcmp(buf, data + 512 * 77, 512) == 0);
        assert(write_split(d, 0, buf, 512) == -EROFS);
        assert(disk_flush(d) == 0);
        disk_free(d);
        free(back);
        back = read_file(raw_path, &n);
        assert(n == BACKING_SIZE && memcmp(back, data, n) == 0);

        /* One writer at a time. */
        assert(disk_open_raw(raw_path, false, &d, NULL) == 0);
        Disk *other;
        assert(disk_open_raw(raw_path, false, &other, &error) == -EBUSY);
        assert(error && strstr(error, raw_path));
        error = mfree(error);
        disk_free(d);

        /* Not a disk: a size that is no multiple of 512, or none. */
        write_file(raw_path, data, 1000);
        assert(disk_open_raw(raw_path, false, &d, &error) == -EINVAL);
        assert(error && strstr(error, raw_path) && strstr(error, "1000"));
        error = mfree(error);
        write_file(raw_path, "", 0);
        assert(disk_open_raw(raw_path, false, &d, NULL) == -EINVAL);
        assert(disk_open_raw(dir, true, &d, NULL) == -EBADFD);
}

static void check_model(Disk *d, const uint8_t *model) {
        _cleanup_free_ uint8_t *buf = malloc(BACKING_SIZE);

        assert(buf);
        memset(buf, 0xee, BACKING_SIZE);
        pread_at(d, 0, buf, BACKING_SIZE);
        for (size_t i = 0; i < BACKING_SIZE; i++)
                if (buf[i] != model[i]) {
                        fprintf(stderr, "byte %zu: 0x%02x, expected 0x%02x\n", i, buf[i], model[i]);
                        abort();
                }
}

static void check_backing_unchanged(void) {
        _cleanup_free_ uint8_t *b = NULL;
        size_t n;

        b = read_file(backing_path, &n);
        assert(n == BACKING_SIZE && memcmp(b, backing_data(), n) == 0);
}

static void test_overlay(void) {
        _cleanup_free_ uint8_t *model = malloc(BACKING_SIZE), *buf = malloc(BACKING_SIZE), *file = NULL;
        uint64_t rng = 1234;
        DiskOverlayHeader h;
        size_t n;
        Disk *d;

        assert(model && buf);
        make_files();
        memcpy(model, backing_data(), BACKING_SIZE);
        assert(disk_open_overlay(overlay_path, backing_path, false, &d, NULL) == 0);
        assert(disk_size(d) == BACKING_SIZE && !disk_read_only(d));

        /* The new overlay, as disk.h describes it: sparse, its data area the disk's size. */
        assert(file_size(overlay_path) == DATA_OFFSET + BACKING_SIZE);
        file = read_file(overlay_path, &n);
        memcpy(&h, file, sizeof(h));
        assert(memcmp(h.magic, "VMMHVCW1", 8) == 0 && le32toh(h.version) == 1);
        assert(le32toh(h.header_size) == 4096 && le64toh(h.virtual_size) == BACKING_SIZE);
        assert(le32toh(h.cluster_size) == 65536 && h.flags == 0);
        assert(le64toh(h.bitmap_offset) == 4096 && le64toh(h.bitmap_size) == 3);
        assert(le64toh(h.data_offset) == DATA_OFFSET);
        file = mfree(file);

        /* Everything reads from the backing file at first. */
        check_model(d, model);

        /* Writes of every shape: inside one cluster, across clusters, whole clusters, the partial last
         * cluster; into clusters already the overlay's and not yet. */
        static const struct {
                uint64_t offset, len;
        } writes[] = {
                { 512, 512 },                    /* the middle of cluster 0 */
                { 65536 - 1024, 2048 },          /* across clusters 0 and 1 */
                { 3 * 65536, 65536 },            /* all of cluster 3, nothing copied up */
                { 5 * 65536 + 4096, 3 * 65536 }, /* from inside cluster 5 to inside 8 */
                { 16 * 65536 + 512, 512 },       /* the middle of the last, partial cluster */
                { 0, 512 },                      /* cluster 0 again, already the overlay's */
                { 2 * 65536 + 512, 4 * 65536 },  /* over allocated and unallocated ones */
                { BACKING_SIZE - 512, 512 },     /* the very last sector */
        };
        for (size_t i = 0; i < ELEMENTSOF(writes); i++) {
                fill_random(buf, writes[i].len, 100 + i);
                assert(write_split(d, writes[i].offset, buf, writes[i].len) == 0);
                memcpy(model + writes[i].offset, buf, writes[i].len);
                check_model(d, model);
        }
        /* Random ones too. */
        for (unsigned i = 0; i < 200; i++) {
                uint64_t sectors = BACKING_SIZE / 512, s = splitmix64(&rng) % sectors,
                         len = 512 * (1 + splitmix64(&rng) % MIN(sectors - s, (uint64_t) 300));

                fill_random(buf, len, 1000 + i);
                assert(write_split(d, 512 * s, buf, len) == 0);
                memcpy(model + 512 * s, buf, len);
        }
        check_model(d, model);
        assert(write_split(d, BACKING_SIZE - 512, buf, 1024) == -EINVAL);
        check_backing_unchanged();

        /* Closed and opened again, with the bitmap that disk_free() wrote. */
        disk_free(d);
        check_backing_unchanged();
        assert(disk_open_overlay(overlay_path, backing_path, false, &d, NULL) == 0);
        check_model(d, model);
        disk_free(d);

        /* Read-only: the same data, no writes. */
        assert(disk_open_overlay(overlay_path, backing_path, true, &d, NULL) == 0);
        assert(disk_read_only(d));
        check_model(d, model);
        assert(write_split(d, 0, buf, 512) == -EROFS);
        disk_free(d);
        check_backing_unchanged();
        assert(file_size(overlay_path) == DATA_OFFSET + BACKING_SIZE);
}

/* A VMM that dies keeps what was flushed; a cluster written since then reads from the backing file again
 * (the bitmap on disk never names data that may not be there), and can be written anew. */
static void test_overlay_crash(void) {
        _cleanup_free_ uint8_t *model = malloc(BACKING_SIZE), *buf = malloc(65536);
        Disk *d;
        pid_t pid;
        int status;

        assert(model && buf);
        make_files();
        memcpy(model, backing_data(), BACKING_SIZE);
        fill_random(buf, 4096, 5);
        memcpy(model + 65536 + 512, buf, 4096);

        pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                uint8_t other[4096];

                assert(disk_open_overlay(overlay_path, backing_path, false, &d, NULL) == 0);
                assert(write_split(d, 65536 + 512, buf, 4096) == 0);
                assert(disk_flush(d) == 0);
                fill_random(other, sizeof(other), 6);
                assert(write_split(d, 5 * 65536 + 512, other, sizeof(other)) == 0);
                _exit(0); /* no disk_free(): as if killed */
        }
        assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

        assert(disk_open_overlay(overlay_path, backing_path, false, &d, NULL) == 0);
        check_model(d, model);
        /* The lost cluster is copied up anew: the part not written comes from the backing file, not from
         * what the dead VMM left in the file. */
        fill_random(buf, 512, 7);
        assert(write_split(d, 5 * 65536 + 1024, buf, 512) == 0);
        memcpy(model + 5 * 65536 + 1024, buf, 512);
        check_model(d, model);
        disk_free(d);
        check_backing_unchanged();
}

static void test_overlay_size_mismatch(void) {
        _cleanup_free_ uint8_t *other = calloc(1, 2 * BACKING_SIZE);
        char other_path[80], *error = NULL;
        Disk *d;

        assert(other);
        make_files();
        assert(disk_open_overlay(overlay_path, backing_path, false, &d, NULL) == 0);
        disk_free(d);
        (void) snprintf(other_path, sizeof(other_path), "%s/other", dir);
        write_file(other_path, other, 2 * BACKING_SIZE);
        assert(disk_open_overlay(overlay_path, other_path, false, &d, &error) == -EINVAL);
        /* Names both files and both sizes. */
        assert(error && strstr(error, overlay_path) && strstr(error, other_path));
        assert(strstr(error, "1050112") && strstr(error, "2100224"));
        error = mfree(error);

        /* A backing file that is no disk. */
        write_file(other_path, other, 1000);
        assert(disk_open_overlay(overlay_path, other_path, false, &d, &error) == -EINVAL);
        assert(error && strstr(error, other_path));
        error = mfree(error);

        /* An empty overlay is made only where it may be written. */
        write_file(overlay_path, "", 0);
        assert(disk_open_overlay(overlay_path, backing_path, true, &d, &error) == -EINVAL);
        assert(error && strstr(error, overlay_path));
        error = mfree(error);
        assert(file_size(overlay_path) == 0);
}

/* Puts value (size bytes, little-endian) at offset of a good overlay file and expects open to refuse it. */
static void expect_damaged(uint64_t offset, uint64_t value, unsigned size, int expected) {
        _cleanup_close_ int fd = -EBADF;
        char *error = NULL;
        uint64_t le = htole64(value);
        Disk *d;
        int r;

        make_files();
        assert(disk_open_overlay(overlay_path, backing_path, false, &d, NULL) == 0);
        disk_free(d);
        fd = open(overlay_path, O_WRONLY | O_CLOEXEC);
        assert(fd >= 0);
        assert(pwrite_full(fd, &le, size, offset) == 0);
        r = disk_open_overlay(overlay_path, backing_path, false, &d, &error);
        if (r != expected || (r < 0 && (!error || !strstr(error, overlay_path)))) {
                fprintf(stderr,
                        "offset %" PRIu64 " = 0x%" PRIx64 ": %d (%s), expected %d\n",
                        offset,
                        value,
                        r,
                        strna(error),
                        expected);
                abort();
        }
        if (r >= 0)
                disk_free(d);
        free(error);
}

static void test_overlay_damaged(void) {
        char *error = NULL;
        Disk *d;

        expect_damaged(0, 0x31574348564d4d56, 8, -EBADMSG); /* "VMMVHCW1" */
        expect_damaged(8, 2, 4, -EBADMSG);                  /* version */
        expect_damaged(8, 0, 4, -EBADMSG);
        expect_damaged(12, 512, 4, -EBADMSG);                /* header_size */
        expect_damaged(16, 0, 8, -EBADMSG);                  /* virtual_size: none */
        expect_damaged(16, BACKING_SIZE + 100, 8, -EBADMSG); /* no multiple of 512 */
        expect_damaged(16, UINT64_MAX - 511, 8, -EBADMSG);   /* absurd */
        expect_damaged(16, DISK_OVERLAY_SIZE_MAX + 512, 8, -EBADMSG);
        expect_damaged(16, BACKING_SIZE + 512, 8, -EBADMSG); /* beyond the file */
        expect_damaged(16, BACKING_SIZE - 512, 8, -EBADMSG); /* the file longer than it says */
        expect_damaged(24, 4096, 4, -EBADMSG);               /* cluster_size */
        expect_damaged(24, 0, 4, -EBADMSG);
        expect_damaged(28, 1, 4, -EBADMSG); /* flags */
        expect_damaged(28, 0x80000000, 4, -EBADMSG);
        expect_damaged(56, 1, 1, -EBADMSG); /* reserved bytes */
        expect_damaged(4095, 1, 1, -EBADMSG);
        expect_damaged(32, 0, 8, -EBADMSG); /* bitmap_offset: in the header */
        expect_damaged(32, 4095, 8, -EBADMSG);
        expect_damaged(32, DATA_OFFSET - 2, 8, -EBADMSG); /* overlapping the data */
        expect_damaged(32, UINT64_MAX - 1, 8, -EBADMSG);  /* beyond everything */
        expect_damaged(40, 2, 8, -EBADMSG);               /* bitmap_size: too small */
        expect_damaged(40, 4, 8, -EBADMSG);               /* too big */
        expect_damaged(40, UINT64_MAX, 8, -EBADMSG);
        expect_damaged(48, DATA_OFFSET + 4096, 8, -EBADMSG); /* data_offset: not a cluster */
        expect_damaged(48, 0, 8, -EBADMSG);                  /* overlapping header and bitmap */
        expect_damaged(48, 2 * DATA_OFFSET, 8, -EBADMSG);    /* the file too short for it */
        expect_damaged(48, UINT64_MAX - 65535, 8, -EBADMSG); /* beyond the file */
        expect_damaged(4096 + 2, 0x02, 1, -EBADMSG);         /* a bit past the last cluster */
        expect_damaged(4096 + 2, 0x80, 1, -EBADMSG);

        /* A bitmap bit for the last cluster is fine: only the bits past it are not. */
        expect_damaged(4096 + 2, 0x01, 1, 0);

        /* Too short for a header; cut short; something else altogether. */
        write_file(overlay_path, "VMMHVCW1", 8);
        assert(disk_open_overlay(overlay_path, backing_path, false, &d, &error) == -EBADMSG);
        assert(error && strstr(error, overlay_path));
        error = mfree(error);
        make_files();
        assert(disk_open_overlay(overlay_path, backing_path, false, &d, NULL) == 0);
        disk_free(d);
        assert(truncate(overlay_path, DATA_OFFSET + BACKING_SIZE - 512) == 0);
        assert(disk_open_overlay(overlay_path, backing_path, false, &d, &error) == -EBADMSG);
        error = mfree(error);
        write_file(overlay_path, backing_data(), BACKING_SIZE);
        assert(disk_open_overlay(overlay_path, backing_path, false, &d, &error) == -EBADMSG);
        assert(error && strstr(error, "VMMHVCW1"));
        error = mfree(error);
        check_backing_unchanged();
}

int main(void) {
        assert(mkdtemp(dir));
        (void) snprintf(backing_path, sizeof(backing_path), "%s/backing", dir);
        (void) snprintf(overlay_path, sizeof(overlay_path), "%s/overlay", dir);
        (void) snprintf(raw_path, sizeof(raw_path), "%s/raw", dir);

        test_raw();
        test_overlay();
        test_overlay_crash();
        test_overlay_size_mismatch();
        test_overlay_damaged();

        free(backing_data());
        assert(rm_rf(dir) >= 0);
        return 0;
}
