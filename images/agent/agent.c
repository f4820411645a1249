/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmmd-agent: the guest agent answering vmmd's line protocol (PROTOCOL.md) on a virtio-serial port. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/random.h>
#include <mntent.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "screen.h"
#include "util.h"

#define AGENT_VERSION "0.8"
#define PORT_NAME "org.vmmd1.agent"
#define VIRTIO_PORTS_DIR "/sys/class/virtio-ports"
/* Lines in both directions, "\n" included. */
#define LINE_MAX_BYTES 256
/* How long to wait for the port to show up after the driver was loaded. */
#define PORT_TIMEOUT_USEC (60 * USEC_PER_SEC)

typedef enum ServeResult {
        SERVE_HANGUP,   /* the host side closed the port */
        SERVE_POWEROFF, /* POWEROFF was answered */
        SERVE_REBOOT,   /* REBOOT was answered */
        SERVE_CRASH,    /* CRASH was answered */
} ServeResult;

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static const char *arg_port = NULL;
static int arg_fd = -EBADF;
static bool arg_poweroff = true;
static const char *arg_root = "";   /* where /etc/machine-id is (tests) */
static const char *arg_data = NULL; /* the data disk's directory instead of /data, not a mount point (tests) */
/* A framebuffer file, input event files and a kernel log file instead of the guest's devices (tests). */
static const char *arg_fb = NULL;
static unsigned arg_fb_width = 0, arg_fb_height = 0;
static char **arg_inputs = NULL;
static const char *arg_kmsg = NULL;

/* The display, the input devices and the kernel log (screen.c). */
static Screen *screen = NULL;

/* Host entropy per ENTROPY line: at most this many bytes (as hex, it fits a line with room). */
#define ENTROPY_MAX_BYTES 96
#define MACHINE_ID_HEX 32

static int write_all(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd p = { .fd = fd, .events = POLLOUT };

                                if (poll(&p, 1, -1) < 0) {
                                        if (errno == EINTR)
                                                continue;
                                        return -errno;
                                }
                                /* A virtio-serial port whose host end closed: the answer is stale. */
                                if ((p.revents & POLLHUP) && !(p.revents & POLLOUT))
                                        return -ECONNRESET;
                                continue;
                        }
                        return -errno;
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Returns -ECONNRESET when a virtio-serial port's host end closed meanwhile (see write_all()). */
static int send_line(int fd, const char *fmt, ...) _printf_(2, 3);
static int send_line(int fd, const char *fmt, ...) {
        char buf[LINE_MAX_BYTES + 1];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        n = MIN(n, LINE_MAX_BYTES - 1);
        buf[n++] = '\n';
        return write_all(fd, buf, (size_t) n);
}

static int meminfo_field(const char *text, const char *key, uint64_t *ret) {
        size_t l = strlen(key);

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, key, l) == 0 && p[l] == ':') {
                        char *end;
                        unsigned long long v;

                        errno = 0;
                        v = strtoull(p + l + 1, &end, 10);
                        if (errno != 0 || end == p + l + 1)
                                return -EBADMSG;
                        *ret = v;
                        return 0;
                }
        return -ENOENT;
}

static int reply_meminfo(int fd) {
        _cleanup_free_ char *text = NULL;
        uint64_t total, free_kib, avail;
        int r;

        r = read_full_file("/proc/meminfo", &text, NULL);
        if (r >= 0)
                r = meminfo_field(text, "MemTotal", &total);
        if (r >= 0)
                r = meminfo_field(text, "MemFree", &free_kib);
        if (r >= 0)
                r = meminfo_field(text, "MemAvailable", &avail);
        if (r < 0)
                return send_line(fd, "ERR cannot read /proc/meminfo: %s", strerror(-r));

        return send_line(
                fd,
                "MEMINFO total_kib=%" PRIu64 " free_kib=%" PRIu64 " available_kib=%" PRIu64,
                total,
                free_kib,
                avail);
}

/* The kernel's random ID of this boot: a guest restored from a snapshot reports the boot it was taken in. */
static int reply_boot_id(int fd) {
        _cleanup_free_ char *text = NULL;
        size_t n;
        int r;

        r = read_full_file("/proc/sys/kernel/random/boot_id", &text, NULL);
        if (r < 0)
                return send_line(fd, "ERR cannot read the boot ID: %s", strerror(-r));
        n = strcspn(text, "\n");
        text[n] = '\0';
        return send_line(fd, "BOOTID %s", text);
}

/* The host's entropy into the kernel's pool, credited, and the CRNG reseeded from it at once: a guest
 * restored from a snapshot (a clone) must not go on with the random state it was saved with. */
static int do_entropy(int fd, const char *arg) {
        /* struct rand_pool_info ends in a flexible array: the bytes follow it. */
        _Alignas(struct rand_pool_info)
                uint8_t storage[sizeof(struct rand_pool_info) + ENTROPY_MAX_BYTES] = {};
        struct rand_pool_info *info = (struct rand_pool_info *) storage;
        _cleanup_close_ int rfd = -EBADF;
        const char *failed = NULL;
        int n, error = 0;

        n = arg ? unhexmem(arg, info->buf, ENTROPY_MAX_BYTES) : -EINVAL;
        if (n < 16)
                return send_line(fd, "ERR ENTROPY takes 16 to %d bytes as hex", ENTROPY_MAX_BYTES);
        info->entropy_count = n * 8;
        info->buf_size = n;
        rfd = open("/dev/urandom", O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (rfd < 0)
                failed = "cannot open /dev/urandom";
        else if (ioctl(rfd, RNDADDENTROPY, info) < 0)
                failed = "RNDADDENTROPY";
        else if (ioctl(rfd, RNDRESEEDCRNG) < 0)
                failed = "RNDRESEEDCRNG";
        error = errno;
        explicit_bzero(storage, sizeof(storage));
        if (failed)
                return send_line(fd, "ERR %s: %s", failed, strerror(error));
        return send_line(fd, "OK ENTROPY");
}

/* "CLOCK": the wall clock as "<s>.<ns>"; "CLOCK <s>.<ns>": sets it. */
static int do_clock(int fd, const char *arg) {
        struct timespec ts;
        char *end;

        if (!arg) {
                if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                        return send_line(fd, "ERR clock_gettime: %s", strerror(errno));
                return send_line(fd, "CLOCK %lld.%09ld", (long long) ts.tv_sec, ts.tv_nsec);
        }
        errno = 0;
        ts.tv_sec = (time_t) strtoll(arg, &end, 10);
        if (errno != 0 || end == arg || *arg == '-' || *end != '.' || strlen(end + 1) != 9 ||
            strspn(end + 1, "0123456789") != 9)
                return send_line(fd, "ERR CLOCK takes <seconds>.<9 digits of nanoseconds>");
        ts.tv_nsec = strtol(end + 1, NULL, 10);
        if (clock_settime(CLOCK_REALTIME, &ts) < 0)
                return send_line(fd, "ERR clock_settime: %s", strerror(errno));
        return send_line(fd, "OK CLOCK");
}

/* "HOSTNAME": the guest's; "HOSTNAME <name>": sets it (letters, digits, '-', '.', '_', at most 64). */
static int do_hostname(int fd, const char *arg) {
        char name[HOST_NAME_MAX + 1];

        if (!arg) {
                if (gethostname(name, sizeof(name)) < 0)
                        return send_line(fd, "ERR gethostname: %s", strerror(errno));
                name[sizeof(name) - 1] = '\0';
                return send_line(fd, "HOSTNAME %s", name);
        }
        if (!*arg || strlen(arg) > 64 ||
            strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != strlen(arg))
                return send_line(fd, "ERR HOSTNAME takes 1 to 64 letters, digits, '-', '.' or '_'");
        if (sethostname(arg, strlen(arg)) < 0)
                return send_line(fd, "ERR sethostname: %s", strerror(errno));
        return send_line(fd, "OK HOSTNAME");
}

/* "MACHINEID": /etc/machine-id; "MACHINEID <32 hex digits>": writes it. */
static int do_machine_id(int fd, const char *arg) {
        _cleanup_free_ char *path = NULL, *text = NULL, *line = NULL;
        int r;

        if (asprintf(&path, "%s/etc/machine-id", arg_root) < 0)
                return -ENOMEM;
        if (!arg) {
                r = read_full_file(path, &text, NULL);
                if (r < 0)
                        return send_line(fd, "ERR cannot read %s: %s", path, strerror(-r));
                text[strcspn(text, "\n")] = '\0';
                return send_line(fd, "MACHINEID %s", text);
        }
        if (strlen(arg) != MACHINE_ID_HEX || strspn(arg, "0123456789abcdef") != MACHINE_ID_HEX)
                return send_line(fd, "ERR MACHINEID takes 32 lowercase hex digits");
        if (asprintf(&line, "%s\n", arg) < 0)
                return -ENOMEM;
        /* A minimal guest (the reference initramfs) may have no /etc yet. */
        *strrchr(path, '/') = '\0';
        r = mkdir_p(path, 0755);
        path[strlen(path)] = '/';
        if (r >= 0)
                r = write_file_atomic(path, line);
        if (r < 0)
                return send_line(fd, "ERR cannot write %s: %s", path, strerror(-r));
        return send_line(fd, "OK MACHINEID");
}

/* MEMTEST: guest RAM that holds a known pattern, for a host that reclaims, swaps, merges and balloons
 * guest memory to prove that no byte is lost. DISKTEST: the same pattern in a file on the data disk, for a
 * host whose disk must keep what the guest wrote. Each 4 KiB unit's 64-bit words derive from the seed, the
 * unit's index and the word's (splitmix64), so that a page that comes back with another page's contents
 * (or zeros) is told apart. */
#define MEMTEST_UNIT 4096U
#define MEMTEST_WORDS (MEMTEST_UNIT / 8U)
#define MEMTEST_MIB_MAX 65536U
#define MEMTEST_LIST_MAX 12U /* bad units listed in a CHECK answer: it must fit a line */
/* Left to the guest's kernel and the rest, besides what MemAvailable shows: the agent must not be the
 * one the OOM killer picks. */
#define MEMTEST_RESERVE_KIB (16U * 1024U)

static uint64_t *memtest_buf;
static size_t memtest_units;
static uint64_t memtest_seed;

static uint64_t pattern_word(uint64_t seed, uint64_t unit, uint64_t i) {
        uint64_t z = seed + (unit * MEMTEST_WORDS + i + 1) * UINT64_C(0x9e3779b97f4a7c15);

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static void pattern_fill(uint64_t *p, uint64_t seed, uint64_t unit) {
        for (size_t i = 0; i < MEMTEST_WORDS; i++)
                p[i] = pattern_word(seed, unit, i);
}

static bool pattern_ok(const uint64_t *p, uint64_t seed, uint64_t unit) {
        for (size_t i = 0; i < MEMTEST_WORDS; i++)
                if (p[i] != pattern_word(seed, unit, i))
                        return false;
        return true;
}

/* The units a CHECK found bad: how many, and the first few by index (hex). */
typedef struct BadUnits {
        size_t n, len;
        char list[MEMTEST_LIST_MAX * 17 + 1];
} BadUnits;

static void bad_units_add(BadUnits *b, uint64_t unit) {
        if (b->n++ < MEMTEST_LIST_MAX)
                b->len += (size_t) snprintf(
                        b->list + b->len, sizeof(b->list) - b->len, "%s%" PRIx64, b->len ? "," : "", unit);
}

static int send_check(int fd, const char *what, size_t units, const BadUnits *b) {
        return send_line(fd, "%s units=%zu bad=%zu%s%s", what, units, b->n, b->n ? " first=" : "", b->list);
}

static void memtest_free(void) {
        if (memtest_buf)
                (void) munmap(memtest_buf, memtest_units * MEMTEST_UNIT);
        memtest_buf = NULL;
        memtest_units = 0;
}

static void memtest_fill(void) {
        for (size_t u = 0; u < memtest_units; u++)
                pattern_fill(memtest_buf + u * MEMTEST_WORDS, memtest_seed, u);
}

/* "MEMTEST FILL <MiB> <seed>": that much fresh memory, filled (again, with a new seed, when the size is
 * the same: the guest writes while the host reclaims); "CHECK": every byte compared; "POKE <unit>": one
 * byte of a unit flipped, so that a test can see CHECK find it; "FREE". */
static int do_memtest(int fd, const char *arg) {
        char sub[8], extra;
        unsigned long long a, b;
        int k;

        k = arg ? sscanf(arg, "%7s %llu %llx %c", sub, &a, &b, &extra) : 0;
        if (k == 3 && streq(sub, "FILL")) {
                _cleanup_free_ char *text = NULL;
                uint64_t avail;
                size_t units = (size_t) a * (1024U * 1024U / MEMTEST_UNIT);

                if (a < 1 || a > MEMTEST_MIB_MAX)
                        return send_line(fd, "ERR MEMTEST FILL takes 1 to %u MiB", MEMTEST_MIB_MAX);
                if (units != memtest_units) {
                        void *p;

                        memtest_free();
                        if (read_full_file("/proc/meminfo", &text, NULL) < 0 ||
                            meminfo_field(text, "MemAvailable", &avail) < 0)
                                return send_line(fd, "ERR cannot read /proc/meminfo");
                        if (a * 1024 + MEMTEST_RESERVE_KIB > avail)
                                return send_line(
                                        fd,
                                        "ERR MEMTEST FILL %llu MiB: only %" PRIu64 " MiB are available",
                                        a,
                                        avail / 1024);
                        p = mmap(
                                NULL,
                                units * MEMTEST_UNIT,
                                PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS,
                                -1,
                                0);
                        if (p == MAP_FAILED)
                                return send_line(fd, "ERR MEMTEST FILL: %s", strerror(errno));
                        memtest_buf = p;
                        memtest_units = units;
                }
                memtest_seed = b;
                memtest_fill();
                return send_line(fd, "OK MEMTEST");
        }
        if (k == 1 && streq(sub, "CHECK")) {
                BadUnits bad = {};

                for (size_t u = 0; u < memtest_units; u++)
                        if (!pattern_ok(memtest_buf + u * MEMTEST_WORDS, memtest_seed, u))
                                bad_units_add(&bad, u);
                return send_check(fd, "MEMTEST", memtest_units, &bad);
        }
        if (k == 2 && streq(sub, "POKE")) {
                if (a >= memtest_units)
                        return send_line(fd, "ERR MEMTEST POKE: no unit %llu (%zu filled)", a, memtest_units);
                ((volatile uint8_t *) memtest_buf)[a * MEMTEST_UNIT + 42] ^= 0x5a;
                return send_line(fd, "OK MEMTEST");
        }
        if (k == 1 && streq(sub, "FREE")) {
                memtest_free();
                return send_line(fd, "OK MEMTEST");
        }
        return send_line(fd, "ERR MEMTEST takes FILL <MiB> <hex seed>, CHECK, POKE <unit> or FREE");
}

/* DISKTEST: the file DISKTEST_FILE in the data disk's directory. Its first unit is a header line with the
 * seed and the number of units that follow ("DISKTEST <hex seed> <units>\n", zeros after it), so that CHECK
 * needs no arguments, even in a guest booted anew; then the units, each as MEMTEST fills one. */
#define DISKTEST_FILE "disktest"
#define DISKTEST_CHUNK_UNITS 16U /* written and read this many units at a time */

static const char *data_dir(void) {
        return arg_data ?: "/data";
}

/* The data disk is there: /data is a mount point (its device differs from its parent's), unless a test
 * named a directory of its own. */
static bool data_mounted(void) {
        struct stat st, parent;

        if (arg_data)
                return true;
        return stat("/data", &st) >= 0 && stat("/data/..", &parent) >= 0 && st.st_dev != parent.st_dev;
}

static int fsync_dir(const char *path) {
        _cleanup_close_ int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (d < 0 || fsync(d) < 0)
                return -errno;
        return 0;
}

static int disktest_fill(int fd, uint64_t mib, uint64_t seed) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint64_t *buf = NULL;
        _cleanup_close_ int f = -EBADF;
        uint64_t units = mib * (1024U * 1024U / MEMTEST_UNIT), avail;
        struct statvfs sv;
        int r;

        if (mib < 1 || mib > MEMTEST_MIB_MAX)
                return send_line(fd, "ERR DISKTEST FILL takes 1 to %u MiB", MEMTEST_MIB_MAX);
        if (!data_mounted())
                return send_line(fd, "ERR DISKTEST FILL: /data is not mounted (no data disk)");
        if (asprintf(&path, "%s/" DISKTEST_FILE, data_dir()) < 0)
                return -ENOMEM;
        /* The old file's room counts as free. */
        if (unlink(path) < 0 && errno != ENOENT)
                return send_line(fd, "ERR DISKTEST FILL: cannot remove %s: %s", path, strerror(errno));
        if (statvfs(data_dir(), &sv) < 0)
                return send_line(fd, "ERR DISKTEST FILL: statvfs %s: %s", data_dir(), strerror(errno));
        avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        if ((units + 1) * MEMTEST_UNIT > avail)
                return send_line(
                        fd,
                        "ERR DISKTEST FILL %" PRIu64 " MiB: only %" PRIu64 " MiB are free on %s",
                        mib,
                        avail >> 20,
                        data_dir());

        buf = calloc(DISKTEST_CHUNK_UNITS, MEMTEST_UNIT);
        if (!buf)
                return -ENOMEM;
        f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0)
                return send_line(fd, "ERR DISKTEST FILL: cannot create %s: %s", path, strerror(errno));
        (void) snprintf((char *) buf, MEMTEST_UNIT, "DISKTEST %" PRIx64 " %" PRIu64 "\n", seed, units);
        r = pwrite_full(f, buf, MEMTEST_UNIT, 0);
        for (uint64_t u = 0; r >= 0 && u < units; u += DISKTEST_CHUNK_UNITS) {
                uint64_t n = MIN((uint64_t) DISKTEST_CHUNK_UNITS, units - u);

                for (uint64_t i = 0; i < n; i++)
                        pattern_fill(buf + i * MEMTEST_WORDS, seed, u + i);
                r = pwrite_full(f, buf, n * MEMTEST_UNIT, (1 + u) * MEMTEST_UNIT);
        }
        /* On the disk, and the file's name with it, before the answer says so. */
        if (r >= 0 && fsync(f) < 0)
                r = -errno;
        if (r >= 0)
                r = fsync_dir(data_dir());
        if (r < 0)
                return send_line(fd, "ERR DISKTEST FILL: cannot write %s: %s", path, strerror(-r));
        return send_line(fd, "OK DISKTEST");
}

/* Reads the file back from the disk itself: its pages are dropped from the page cache first (they are
 * clean after the fsync), so that a disk that lost data cannot hide behind the guest's own cache. */
static int disktest_check(int fd) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint64_t *buf = NULL;
        _cleanup_close_ int f = -EBADF;
        uint64_t seed, units;
        BadUnits bad = {};
        char extra;

        if (!data_mounted())
                return send_line(fd, "ERR DISKTEST CHECK: /data is not mounted (no data disk)");
        if (asprintf(&path, "%s/" DISKTEST_FILE, data_dir()) < 0)
                return -ENOMEM;
        f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (f < 0)
                return send_line(fd, "ERR DISKTEST CHECK: cannot open %s: %s", path, strerror(errno));
        if (fdatasync(f) < 0 || posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED) != 0)
                return send_line(fd, "ERR DISKTEST CHECK: cannot drop %s from the page cache", path);
        buf = malloc(DISKTEST_CHUNK_UNITS * MEMTEST_UNIT + 1);
        if (!buf)
                return -ENOMEM;
        if (pread(f, buf, MEMTEST_UNIT, 0) != MEMTEST_UNIT)
                return send_line(fd, "ERR DISKTEST CHECK: %s has no header", path);
        ((char *) buf)[MEMTEST_UNIT] = '\0';
        if (sscanf((char *) buf, "DISKTEST %" SCNx64 " %" SCNu64 "%c", &seed, &units, &extra) != 3 ||
            extra != '\n' || units > (uint64_t) MEMTEST_MIB_MAX * (1024U * 1024U / MEMTEST_UNIT))
                return send_line(fd, "ERR DISKTEST CHECK: %s has no valid header", path);
        for (uint64_t u = 0; u < units; u += DISKTEST_CHUNK_UNITS) {
                uint64_t n = MIN((uint64_t) DISKTEST_CHUNK_UNITS, units - u);
                ssize_t k = pread(f, buf, n * MEMTEST_UNIT, (off_t) ((1 + u) * MEMTEST_UNIT));

                if (k < 0)
                        return send_line(fd, "ERR DISKTEST CHECK: cannot read %s: %s", path, strerror(errno));
                /* A unit the file does not hold in full is bad too. */
                for (uint64_t i = 0; i < n; i++)
                        if ((uint64_t) k < (i + 1) * MEMTEST_UNIT ||
                            !pattern_ok(buf + i * MEMTEST_WORDS, seed, u + i))
                                bad_units_add(&bad, u + i);
        }
        return send_check(fd, "DISKTEST", units, &bad);
}

/* "DISKTEST FILL <MiB> <seed>": the file written anew and made durable; "CHECK": read back from the disk. */
static int do_disktest(int fd, const char *arg) {
        char sub[8], extra;
        unsigned long long a, b;
        int k;

        k = arg ? sscanf(arg, "%7s %llu %llx %c", sub, &a, &b, &extra) : 0;
        if (k == 3 && streq(sub, "FILL"))
                return disktest_fill(fd, a, b);
        if (k == 1 && streq(sub, "CHECK"))
                return disktest_check(fd);
        return send_line(fd, "ERR DISKTEST takes FILL <MiB> <hex seed> or CHECK");
}

/* "RANDOM": 64 bytes from /dev/urandom as hex, so that a host can tell guests' random states apart. */
static int do_random(int fd) {
        _cleanup_close_ int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        uint8_t buf[64];
        char hex[2 * sizeof(buf) + 1];

        if (rfd < 0 || read(rfd, buf, sizeof(buf)) != (ssize_t) sizeof(buf))
                return send_line(fd, "ERR cannot read /dev/urandom: %s", strerror(errno));
        hexmem(buf, sizeof(buf), hex);
        return send_line(fd, "RANDOM %s", hex);
}

/* "SCREEN <rrggbb> <title> [<subtitle>]" and "INPUT [CLEAR]": screen.c answers. */
static int do_screen(int fd, const char *arg) {
        char answer[LINE_MAX_BYTES];

        screen_command_screen(screen, arg, answer, sizeof(answer));
        return send_line(fd, "%s", answer);
}

static int do_input(int fd, const char *arg) {
        char answer[LINE_MAX_BYTES];

        screen_command_input(screen, arg, answer, sizeof(answer));
        return send_line(fd, "%s", answer);
}

/* Best effort, like a shutdown does: a file system left read-only is clean and needs no journal replay on
 * the next boot. */
static void remount_block_devices_ro(void) {
        FILE *f;

        f = setmntent("/proc/self/mounts", "re");
        if (!f)
                return;
        for (struct mntent *m; (m = getmntent(f));)
                if (strncmp(m->mnt_fsname, "/dev/", 5) == 0)
                        (void) mount(NULL, m->mnt_dir, NULL, MS_REMOUNT | MS_RDONLY, NULL);
        endmntent(f);
}

/* Answers one line (without its "\n"). Returns 1 after POWEROFF, 2 after REBOOT, 3 after CRASH was
 * acknowledged. */
static int handle_line(int fd, char *line) {
        char cmd[65];
        const char *arg;
        size_t n;

        n = strlen(line);
        if (n > 0 && line[n - 1] == '\r')
                line[--n] = '\0';

        arg = strchr(line, ' ');
        n = arg ? (size_t) (arg - line) : n;
        if (arg)
                arg++;

        if (n == 4 && strncmp(line, "PING", 4) == 0)
                return arg ? send_line(fd, "PONG %s", arg) : send_line(fd, "PONG");
        if (streq(line, "MEMINFO"))
                return reply_meminfo(fd);
        if (streq(line, "BOOTID"))
                return reply_boot_id(fd);
        if (streq(line, "CPUS"))
                return send_line(fd, "CPUS %ld", sysconf(_SC_NPROCESSORS_ONLN));
        if (n == 7 && strncmp(line, "ENTROPY", n) == 0)
                return do_entropy(fd, arg);
        if (n == 5 && strncmp(line, "CLOCK", n) == 0)
                return do_clock(fd, arg);
        if (n == 8 && strncmp(line, "HOSTNAME", n) == 0)
                return do_hostname(fd, arg);
        if (n == 9 && strncmp(line, "MACHINEID", n) == 0)
                return do_machine_id(fd, arg);
        if (streq(line, "RANDOM"))
                return do_random(fd);
        if (n == 7 && strncmp(line, "MEMTEST", n) == 0)
                return do_memtest(fd, arg);
        if (n == 8 && strncmp(line, "DISKTEST", n) == 0)
                return do_disktest(fd, arg);
        if (n == 6 && strncmp(line, "SCREEN", n) == 0)
                return do_screen(fd, arg);
        if (n == 5 && strncmp(line, "INPUT", n) == 0)
                return do_input(fd, arg);
        if (streq(line, "CRASH")) {
                int r = send_line(fd, "OK CRASH");
                return r < 0 ? r : 3;
        }
        if (streq(line, "POWEROFF") || streq(line, "REBOOT")) {
                bool poweroff = line[0] == 'P';
                int r;

                /* Sync first, so that "OK" means the data disk is safe. */
                sync();
                if (arg_poweroff)
                        remount_block_devices_ro();
                r = send_line(fd, poweroff ? "OK POWEROFF" : "OK REBOOT");
                return r < 0 ? r : poweroff ? 1 : 2;
        }

        /* Echo a bounded, printable form of the command word only. */
        n = MIN(n, sizeof cmd - 1);
        for (size_t i = 0; i < n; i++)
                cmd[i] = line[i] >= 0x20 && line[i] < 0x7f && line[i] != '\'' ? line[i] : '?';
        cmd[n] = '\0';
        return send_line(fd, "ERR unknown command '%s'", cmd);
}

/* Reads and answers lines until the host hangs up or asks to power off. A virtio-serial port's fd is
 * non-blocking here: a blocked write would go on once a new host connects, and the agent would never
 * notice the hangup in between (and never greet the new host). One poll() waits for the port, the input
 * devices and the kernel log together; the port is read only when poll() says so, so that a blocking fd
 * (tests) never keeps the rest waiting. */
static int serve(int fd, ServeResult *ret) {
        char line[LINE_MAX_BYTES];
        size_t len = 0;
        bool discarding = false;

        for (;;) {
                struct pollfd p[1 + SCREEN_POLLFDS_MAX];
                size_t n;
                char buf[1024];
                ssize_t k;

                p[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
                n = 1 + screen_fill_pollfds(screen, p + 1, ELEMENTSOF(p) - 1);
                if (poll(p, n, screen_poll_timeout(screen)) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                /* Input first: a line asking about input sees the events that came before it. */
                screen_process(screen, p + 1, n - 1);
                if (p[0].revents == 0)
                        continue;

                k = read(fd, buf, sizeof buf);
                if (k < 0) {
                        if (IN_SET(errno, EINTR, EAGAIN))
                                continue;
                        return -errno;
                }
                if (k == 0) /* virtio-serial: the host end is closed and nothing is left to read */
                        goto hangup;

                for (ssize_t i = 0; i < k; i++) {
                        char c = buf[i];
                        int r;

                        if (c == '\n') {
                                if (discarding) {
                                        discarding = false;
                                        len = 0;
                                        continue;
                                }
                                line[len] = '\0';
                                len = 0;
                                r = handle_line(fd, line);
                                if (r == -ECONNRESET)
                                        goto hangup;
                                if (r < 0)
                                        return r;
                                if (r > 0) {
                                        *ret = r == 1 ? SERVE_POWEROFF : r == 2 ? SERVE_REBOOT : SERVE_CRASH;
                                        return 0;
                                }
                                continue;
                        }
                        if (discarding)
                                continue;
                        if (c == '\0') /* would cut the line short unnoticed */
                                c = '?';
                        if (len >= LINE_MAX_BYTES - 1) {
                                /* Answer at once, then drop the rest up to the next "\n". */
                                r = send_line(fd, "ERR line too long");
                                if (r == -ECONNRESET)
                                        goto hangup;
                                if (r < 0)
                                        return r;
                                discarding = true;
                                len = 0;
                                continue;
                        }
                        line[len++] = c;
                }
        }

hangup:
        *ret = SERVE_HANGUP;
        return 0;
}

/* Opens the port named PORT_NAME if it exists: 1 with the fd, 0 if it is not there (yet). */
static int port_try_open(int *ret_fd) {
        _cleanup_(closedirp) DIR *d = NULL;

        d = opendir(VIRTIO_PORTS_DIR);
        if (!d)
                return errno == ENOENT ? 0 : -errno;

        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *p = NULL, *name = NULL, *dev = NULL;
                char node[PATH_MAX];
                unsigned maj, min;
                int fd;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&p, VIRTIO_PORTS_DIR "/%s/name", de->d_name) < 0)
                        return -ENOMEM;
                /* The name arrives after the port itself (with a "change" uevent). */
                if (read_full_file(p, &name, NULL) < 0)
                        continue;
                name[strcspn(name, "\n")] = '\0';
                if (!streq(name, PORT_NAME))
                        continue;

                (void) snprintf(node, sizeof node, "/dev/%s", de->d_name);
                fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (fd < 0 && errno == ENOENT) {
                        /* No devtmpfs on /dev: make the node ourselves. */
                        free(p);
                        p = NULL;
                        if (asprintf(&p, VIRTIO_PORTS_DIR "/%s/dev", de->d_name) < 0)
                                return -ENOMEM;
                        if (read_full_file(p, &dev, NULL) < 0 || sscanf(dev, "%u:%u", &maj, &min) != 2)
                                return -EBADMSG;
                        if (mknod(node, S_IFCHR | 0600, makedev(maj, min)) < 0 && errno != EEXIST)
                                return -errno;
                        fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
                }
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 1;
        }
        return 0;
}

/* Finds the port, waiting for it to appear: rescans whenever the kernel announces a device. */
static int port_open(int *ret_fd) {
        _cleanup_close_ int nl = -EBADF;
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + PORT_TIMEOUT_USEC;
        int r;

        nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (nl >= 0 && bind(nl, (struct sockaddr *) &sa, sizeof sa) < 0)
                nl = safe_close(nl);

        for (;;) {
                uint64_t now;
                struct pollfd p = { .fd = nl, .events = POLLIN };

                /* Subscribed before scanning, so no uevent between scan and poll gets missed. */
                r = port_try_open(ret_fd);
                if (r != 0)
                        return r;

                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                /* Without the uevent socket (not root?), rescan every 50ms. */
                r = poll(&p, 1, nl >= 0 ? (int) ((deadline - now + 999) / 1000) : 50);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (nl >= 0)
                        for (char buf[4096]; recv(nl, buf, sizeof buf, 0) > 0;)
                                ;
        }
}

/* Sends READY. On a virtio-serial port, first drops what a previous host left unread (drain), then waits
 * for a host: a blocking write to a port whose host end is closed sleeps until a host opens it. */
static int greet(int fd, bool virtio, bool drain) {
        int r;

        if (!virtio)
                return send_line(fd, "READY " AGENT_VERSION);

        r = fd_nonblock(fd, true);
        if (r < 0)
                return r;
        while (drain) {
                char buf[1024];
                ssize_t k = read(fd, buf, sizeof buf);

                if (k > 0 || (k < 0 && errno == EINTR))
                        continue;
                if (k < 0 && errno != EAGAIN)
                        return -errno;
                break; /* EOF: no host and nothing left; EAGAIN: a new host, nothing sent yet */
        }

        r = fd_nonblock(fd, false);
        if (r < 0)
                return r;
        r = send_line(fd, "READY " AGENT_VERSION);
        if (r < 0)
                return r;
        return fd_nonblock(fd, true);
}

static void help(void) {
        printf("Usage: vmmd-agent [OPTIONS]\n\n"
               "Answers vmmd's line protocol on the virtio-serial port " PORT_NAME ".\n\n"
               "  --port PATH     use PATH (socket, fifo, pty...) instead of searching sysfs\n"
               "  --fd N          use the open file descriptor N\n"
               "  --no-poweroff   answer POWEROFF or REBOOT, then exit 0 instead of doing it\n"
               "  --root DIR      find etc/machine-id below DIR (tests)\n"
               "  --data DIR      DISKTEST's directory instead of /data, which need not be a mount point\n"
               "                  (tests)\n"
               "  --fb PATH       a file of WxH XRGB8888 pixels as the display instead of /dev/fb0 (tests)\n"
               "  --fb-size WxH   the size of --fb's display\n"
               "  --input PATH    a file or fifo of input events (struct input_event); repeatable (tests)\n"
               "  --kmsg PATH     a file or fifo of kernel log records instead of /dev/kmsg (tests)\n"
               "  --version       print the agent version\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_PORT = 0x100,
                ARG_FD,
                ARG_NO_POWEROFF,
                ARG_VERSION,
                ARG_ROOT,
                ARG_DATA,
                ARG_FB,
                ARG_FB_SIZE,
                ARG_INPUT,
                ARG_KMSG,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "port", required_argument, NULL, ARG_PORT },
                { "fd", required_argument, NULL, ARG_FD },
                { "no-poweroff", no_argument, NULL, ARG_NO_POWEROFF },
                { "version", no_argument, NULL, ARG_VERSION },
                { "root", required_argument, NULL, ARG_ROOT },
                { "data", required_argument, NULL, ARG_DATA },
                { "fb", required_argument, NULL, ARG_FB },
                { "fb-size", required_argument, NULL, ARG_FB_SIZE },
                { "input", required_argument, NULL, ARG_INPUT },
                { "kmsg", required_argument, NULL, ARG_KMSG },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts(AGENT_VERSION);
                        return 0;
                case ARG_PORT:
                        arg_port = optarg;
                        break;
                case ARG_FD: {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || *end || end == optarg || v < 0 || v > INT32_MAX) {
                                fprintf(stderr, "vmmd-agent: invalid file descriptor '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg_fd = (int) v;
                        break;
                }
                case ARG_NO_POWEROFF:
                        arg_poweroff = false;
                        break;
                case ARG_ROOT:
                        arg_root = optarg;
                        break;
                case ARG_DATA:
                        arg_data = optarg;
                        break;
                case ARG_FB:
                        arg_fb = optarg;
                        break;
                case ARG_FB_SIZE: {
                        unsigned w, h;
                        int k = -1;

                        if (sscanf(optarg, "%5ux%5u%n", &w, &h, &k) != 2 || k < 0 || optarg[k] || w < 1 ||
                            h < 1 || w > SCREEN_SIDE_MAX || h > SCREEN_SIDE_MAX) {
                                fprintf(stderr,
                                        "vmmd-agent: invalid --fb-size '%s', expected WxH (1 to %u each)\n",
                                        optarg,
                                        SCREEN_SIDE_MAX);
                                return -EINVAL;
                        }
                        arg_fb_width = w;
                        arg_fb_height = h;
                        break;
                }
                case ARG_INPUT:
                        if (strv_length(arg_inputs) >= SCREEN_INPUTS_MAX) {
                                fprintf(stderr, "vmmd-agent: at most %u --input\n", SCREEN_INPUTS_MAX);
                                return -EINVAL;
                        }
                        if (strv_extend(&arg_inputs, optarg) < 0)
                                return -ENOMEM;
                        break;
                case ARG_KMSG:
                        arg_kmsg = optarg;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        assert(false);
                }

        if (optind < argc) {
                fprintf(stderr, "vmmd-agent: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (arg_port && arg_fd >= 0) {
                fprintf(stderr, "vmmd-agent: --port and --fd exclude each other\n");
                return -EINVAL;
        }
        if (!arg_fb != !arg_fb_width) {
                fprintf(stderr, "vmmd-agent: --fb and --fb-size go together\n");
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_close_ int fd = -EBADF;
        bool virtio;
        ServeResult result;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        /* A closed socket in tests must be an error code, not a signal. */
        (void) signal(SIGPIPE, SIG_IGN);

        virtio = !arg_port && arg_fd < 0;

        /* Only an agent on the guest's own port uses the guest's devices: a test must not draw on its
         * host's display or read its keyboard. */
        r = screen_new(
                &(ScreenOptions){
                        .devices = virtio,
                        .fb_path = arg_fb,
                        .fb_width = arg_fb_width,
                        .fb_height = arg_fb_height,
                        .input_paths = arg_inputs,
                        .kmsg_path = arg_kmsg,
                },
                &screen);
        if (r < 0) {
                fprintf(stderr,
                        "vmmd-agent: cannot set up the display, input or kernel log: %s\n",
                        strerror(-r));
                return EXIT_FAILURE;
        }
        if (arg_fd >= 0)
                fd = arg_fd;
        else if (arg_port) {
                fd = open(arg_port, O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        fprintf(stderr, "vmmd-agent: cannot open %s: %m\n", arg_port);
                        return EXIT_FAILURE;
                }
        } else {
                r = port_open(&fd);
                if (r < 0) {
                        fprintf(stderr,
                                "vmmd-agent: cannot open virtio-serial port " PORT_NAME ": %s\n",
                                strerror(-r));
                        return EXIT_FAILURE;
                }
        }

        for (bool first = true;; first = false) {
                r = greet(fd, virtio, !first);
                if (r < 0)
                        break;
                r = serve(fd, &result);
                if (r < 0)
                        break;
                if (result == SERVE_CRASH) {
                        if (!arg_poweroff) /* a test on the host: never its kernel */
                                return EXIT_SUCCESS;
                        /* No sync: a crash is what it is. The write panics the kernel (sysrq_handle_crash). */
                        _cleanup_close_ int t = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
                        if (t < 0 || write(t, "c", 1) < 0)
                                fprintf(stderr, "vmmd-agent: cannot crash the kernel: %m\n");
                        return EXIT_FAILURE;
                }
                if (result == SERVE_POWEROFF || result == SERVE_REBOOT) {
                        if (!arg_poweroff)
                                return EXIT_SUCCESS;
                        sync();
                        (void) reboot(result == SERVE_POWEROFF ? RB_POWER_OFF : RB_AUTOBOOT);
                        fprintf(stderr,
                                "vmmd-agent: cannot %s: %m\n",
                                result == SERVE_POWEROFF ? "power off" : "reboot");
                        return EXIT_FAILURE;
                }
                /* A socket or fifo that hung up stays so; a virtio-serial port reconnects. */
                if (!virtio)
                        return EXIT_SUCCESS;
        }

        fprintf(stderr, "vmmd-agent: %s: %s\n", virtio ? "virtio-serial port" : "port", strerror(-r));
        return EXIT_FAILURE;
}
