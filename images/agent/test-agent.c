/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest agent protocol: runs the native vmmd-agent on a socketpair and checks every answer. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/input.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "util.h"

/* Never compiled out, unlike assert(). */
#define check(expr) \
        do { \
                if (!(expr)) { \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
                        abort(); \
                } \
        } while (0)

/* Generous: only a hung agent gets near it. */
#define TIMEOUT_MSEC (30 * 1000)

typedef struct Agent {
        pid_t pid;
        int fd;
        char buf[4096];
        size_t len;
} Agent;

static const char *agent_path;
/* The next agent runs in a UTS namespace of its own (root only): HOSTNAME may set its name. */
static bool agent_own_uts;

/* Starts the agent with the arguments in extra (NULL-terminated) after "--fd 3". */
static void agent_startv(Agent *a, const char *const *extra) {
        const char *argv[16] = { agent_path, "--fd", "3" };
        size_t n = 3;
        int sv[2];

        for (; extra && *extra; extra++) {
                check(n < ELEMENTSOF(argv) - 1);
                argv[n++] = *extra;
        }

        check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        a->pid = fork();
        check(a->pid >= 0);
        if (a->pid == 0) {
                /* dup2() clears O_CLOEXEC on the copy the agent gets. */
                if (dup2(sv[1], 3) < 0 || (agent_own_uts && unshare(CLONE_NEWUTS) < 0))
                        _exit(127);
                execv(agent_path, (char **) argv);
                _exit(127);
        }
        close(sv[1]);
        a->fd = sv[0];
        a->len = 0;
}

static void agent_start(Agent *a, const char *extra) {
        agent_startv(a, STRV_MAKE(extra));
}

static void agent_send(Agent *a, const char *s) {
        size_t n = strlen(s);
        check(write(a->fd, s, n) == (ssize_t) n);
}

/* Returns the next line without its "\n"; NULL at EOF. The caller frees. */
static char *agent_read_line(Agent *a) {
        for (;;) {
                char *nl = memchr(a->buf, '\n', a->len);
                struct pollfd p = { .fd = a->fd, .events = POLLIN };
                ssize_t k;

                if (nl) {
                        size_t n = (size_t) (nl - a->buf);
                        char *line = strndup(a->buf, n);

                        check(line);
                        /* The protocol caps lines at 256 bytes, "\n" included. */
                        check(n + 1 <= 256);
                        memmove(a->buf, nl + 1, a->len - n - 1);
                        a->len -= n + 1;
                        return line;
                }
                check(a->len < sizeof a->buf);
                check(poll(&p, 1, TIMEOUT_MSEC) == 1);
                k = read(a->fd, a->buf + a->len, sizeof a->buf - a->len);
                check(k >= 0);
                if (k == 0) {
                        check(a->len == 0); /* no half line before EOF */
                        return NULL;
                }
                a->len += (size_t) k;
        }
}

static void agent_expect(Agent *a, const char *want) {
        _cleanup_free_ char *line = agent_read_line(a);

        if (!line || !streq(line, want)) {
                fprintf(stderr, "expected '%s', got '%s'\n", want, line ?: "(EOF)");
                check(false);
        }
}

/* Waits for the agent to exit and returns its exit status. */
static int agent_wait(Agent *a) {
        int status;

        check(waitpid(a->pid, &status, 0) == a->pid);
        a->fd = safe_close(a->fd);
        check(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* The host hangs up: the agent sees EOF, says nothing more and exits 0. */
static void agent_close(Agent *a) {
        check(shutdown(a->fd, SHUT_WR) == 0);
        check(!agent_read_line(a));
        check(agent_wait(a) == 0);
}

static void agent_expect_ready(Agent *a) {
        _cleanup_free_ char *line = agent_read_line(a);

        check(line);
        check(strncmp(line, "READY ", 6) == 0);
        check(line[6] != '\0' && !strchr(line + 6, ' '));
}

static uint64_t proc_meminfo_total(void) {
        _cleanup_free_ char *text = NULL;
        const char *p;

        check(read_full_file("/proc/meminfo", &text, NULL) >= 0);
        p = strstr(text, "MemTotal:");
        check(p);
        return strtoull(p + strlen("MemTotal:"), NULL, 10);
}

static uint64_t field(const char *line, const char *key) {
        const char *p = strstr(line, key);
        char *end;
        uint64_t v;

        check(p);
        p += strlen(key);
        v = strtoull(p, &end, 10);
        check(end != p && (*end == ' ' || *end == '\0'));
        return v;
}

static void test_protocol(void) {
        Agent a;
        char long_line[1024];
        char max_line[257];
        _cleanup_free_ char *mem = NULL, *want = NULL;
        uint64_t total, free_kib, avail;

        agent_start(&a, "--no-poweroff");
        agent_expect_ready(&a);

        agent_send(&a, "PING 42 abc\n");
        agent_expect(&a, "PONG 42 abc");

        /* Two lines in one write, and one line over two writes. */
        agent_send(&a, "PING 1\nPING 2\nPI");
        agent_expect(&a, "PONG 1");
        agent_expect(&a, "PONG 2");
        agent_send(&a, "NG 3\n");
        agent_expect(&a, "PONG 3");

        agent_send(&a, "MEMINFO\n");
        mem = agent_read_line(&a);
        check(mem);
        check(strncmp(mem, "MEMINFO total_kib=", 18) == 0);
        total = field(mem, " total_kib=");
        free_kib = field(mem, " free_kib=");
        avail = field(mem, " available_kib=");
        check(total == proc_meminfo_total());
        check(free_kib > 0 && free_kib <= total);
        check(avail > 0 && avail <= total);

        /* The boot ID of the machine the agent runs on: here the build host's. */
        agent_send(&a, "BOOTID\n");
        {
                _cleanup_free_ char *boot_id = NULL, *line = agent_read_line(&a);

                check(read_full_file("/proc/sys/kernel/random/boot_id", &boot_id, NULL) >= 0);
                boot_id[strcspn(boot_id, "\n")] = '\0';
                check(line && strncmp(line, "BOOTID ", 7) == 0 && streq(line + 7, boot_id));
        }

        /* The CPUs the kernel brought online: here the build host's. */
        agent_send(&a, "CPUS\n");
        {
                _cleanup_free_ char *line = agent_read_line(&a), *expected = NULL;

                check(asprintf(&expected, "CPUS %ld", sysconf(_SC_NPROCESSORS_ONLN)) > 0);
                check(line && streq(line, expected));
        }

        agent_send(&a, "REBOOT now\n");
        agent_expect(&a, "ERR unknown command 'REBOOT'");
        agent_send(&a, "ping x\n");
        agent_expect(&a, "ERR unknown command 'ping'");
        agent_send(&a, "\n");
        agent_expect(&a, "ERR unknown command ''");

        /* The longest line allowed: 255 bytes and "\n". */
        memset(max_line, 'x', sizeof max_line);
        memcpy(max_line, "PING ", 5);
        max_line[255] = '\n';
        max_line[256] = '\0';
        agent_send(&a, max_line);
        check(asprintf(&want, "PONG %.*s", 250, max_line + 5) > 0);
        agent_expect(&a, want);

        /* One byte more is too long: one error, the rest of the line is dropped, the next line works. */
        max_line[255] = 'x';
        agent_send(&a, max_line);
        agent_send(&a, "\nPING tail\n");
        agent_expect(&a, "ERR line too long");
        agent_expect(&a, "PONG tail");

        memset(long_line, 'A', sizeof long_line - 2);
        long_line[sizeof long_line - 2] = '\n';
        long_line[sizeof long_line - 1] = '\0';
        agent_send(&a, long_line);
        agent_send(&a, "PING after\n");
        agent_expect(&a, "ERR line too long");
        agent_expect(&a, "PONG after");

        agent_send(&a, "POWEROFF\n");
        agent_expect(&a, "OK POWEROFF");
        /* With --no-poweroff the agent ends cleanly, and says nothing more. */
        check(!agent_read_line(&a));
        check(agent_wait(&a) == 0);
}

static void test_reboot(void) {
        Agent a;

        agent_start(&a, "--no-poweroff");
        agent_expect_ready(&a);
        agent_send(&a, "REBOOT\n");
        agent_expect(&a, "OK REBOOT");
        check(!agent_read_line(&a));
        check(agent_wait(&a) == 0);
}

/* In a test (--no-poweroff) CRASH is answered and ends the agent: the host's kernel is never asked. */
static void test_crash(void) {
        Agent a;

        agent_start(&a, "--no-poweroff");
        agent_expect_ready(&a);
        agent_send(&a, "CRASH\n");
        agent_expect(&a, "OK CRASH");
        check(!agent_read_line(&a));
        check(agent_wait(&a) == 0);
}

/* MEMTEST: a pattern that CHECK finds intact, until one byte of one unit is flipped; then exactly that unit. */
static void test_memtest(void) {
        Agent a;

        agent_start(&a, "--no-poweroff");
        agent_expect_ready(&a);
        agent_send(&a, "MEMTEST CHECK\n");
        agent_expect(&a, "MEMTEST units=0 bad=0");
        agent_send(&a, "MEMTEST FILL 4 0123456789abcdef\nMEMTEST CHECK\n");
        agent_expect(&a, "OK MEMTEST");
        agent_expect(&a, "MEMTEST units=1024 bad=0");
        agent_send(&a, "MEMTEST POKE 5\nMEMTEST POKE 1000\nMEMTEST CHECK\n");
        agent_expect(&a, "OK MEMTEST");
        agent_expect(&a, "OK MEMTEST");
        agent_expect(&a, "MEMTEST units=1024 bad=2 first=5,3e8");
        /* Written again with another seed: intact again (what the guest does while the host reclaims). */
        agent_send(&a, "MEMTEST FILL 4 fedcba9876543210\nMEMTEST CHECK\n");
        agent_expect(&a, "OK MEMTEST");
        agent_expect(&a, "MEMTEST units=1024 bad=0");
        for (const char *const *bad =
                     STRV_MAKE("MEMTEST\n", "MEMTEST FILL 4\n", "MEMTEST FILL 4 1 2\n", "MEMTEST WHAT\n");
             *bad;
             bad++) {
                agent_send(&a, *bad);
                agent_expect(&a, "ERR MEMTEST takes FILL <MiB> <hex seed>, CHECK, POKE <unit> or FREE");
        }
        agent_send(&a, "MEMTEST FILL 65537 1\nMEMTEST FILL 0 1\n");
        agent_expect(&a, "ERR MEMTEST FILL takes 1 to 65536 MiB");
        agent_expect(&a, "ERR MEMTEST FILL takes 1 to 65536 MiB");
        agent_send(&a, "MEMTEST POKE 1024\n");
        agent_expect(&a, "ERR MEMTEST POKE: no unit 1024 (1024 filled)");
        agent_send(&a, "MEMTEST FREE\nMEMTEST CHECK\n");
        agent_expect(&a, "OK MEMTEST");
        agent_expect(&a, "MEMTEST units=0 bad=0");
        agent_close(&a);
}

/* DISKTEST: a file that CHECK reads back intact from its header alone (a fresh agent, as in a guest booted
 * anew), until one byte of one unit changes in the file; a file cut short loses its last units; without a
 * file, or without /data, an ERR. */
static void test_disktest(void) {
        char dir[] = "/tmp/test-agent-disk.XXXXXX", opt[64], path[80];
        _cleanup_close_ int f = -EBADF;
        uint8_t byte;
        Agent a;

        check(mkdtemp(dir));
        (void) snprintf(opt, sizeof(opt), "--data=%s", dir);
        (void) snprintf(path, sizeof(path), "%s/disktest", dir);
        agent_start(&a, opt);
        agent_expect_ready(&a);
        agent_send(&a, "DISKTEST CHECK\n");
        _cleanup_free_ char *line = agent_read_line(&a);
        check(line && strncmp(line, "ERR DISKTEST CHECK: cannot open ", 32) == 0);
        agent_send(&a, "DISKTEST FILL 2 0123456789abcdef\nDISKTEST CHECK\n");
        agent_expect(&a, "OK DISKTEST");
        agent_expect(&a, "DISKTEST units=512 bad=0");
        /* The same pattern as MEMTEST's, after a header unit. */
        check(access(path, F_OK) == 0);
        f = open(path, O_RDWR | O_CLOEXEC);
        check(f >= 0);
        struct stat st;
        check(fstat(f, &st) == 0 && st.st_size == 513 * 4096);
        char header[64] = {};
        check(pread(f, header, sizeof(header) - 1, 0) > 0);
        check(strncmp(header, "DISKTEST 123456789abcdef 512\n", 29) == 0);
        agent_close(&a);

        /* A new agent finds it from the header; a flipped byte in unit 7, then units cut off the end. */
        check(pread(f, &byte, 1, 8 * 4096 + 42) == 1);
        byte ^= 0x5a;
        check(pwrite(f, &byte, 1, 8 * 4096 + 42) == 1);
        agent_start(&a, opt);
        agent_expect_ready(&a);
        agent_send(&a, "DISKTEST CHECK\n");
        agent_expect(&a, "DISKTEST units=512 bad=1 first=7");
        check(ftruncate(f, 511 * 4096 + 100) == 0);
        agent_send(&a, "DISKTEST CHECK\n");
        agent_expect(&a, "DISKTEST units=512 bad=3 first=7,1fe,1ff");
        /* Written anew with another seed: intact again. */
        agent_send(&a, "DISKTEST FILL 1 5eed\nDISKTEST CHECK\n");
        agent_expect(&a, "OK DISKTEST");
        agent_expect(&a, "DISKTEST units=256 bad=0");
        for (const char *const *bad =
                     STRV_MAKE("DISKTEST\n", "DISKTEST FILL 4\n", "DISKTEST DROP\n", "DISKTEST CHECK 1\n");
             *bad;
             bad++) {
                agent_send(&a, *bad);
                agent_expect(&a, "ERR DISKTEST takes FILL <MiB> <hex seed> or CHECK");
        }
        agent_send(&a, "DISKTEST FILL 0 1\nDISKTEST FILL 65537 1\n");
        agent_expect(&a, "ERR DISKTEST FILL takes 1 to 65536 MiB");
        agent_expect(&a, "ERR DISKTEST FILL takes 1 to 65536 MiB");
        agent_close(&a);
        check(rm_rf(dir) >= 0);

        /* Without --data, /data must be a mount point: here it is not (or not there). */
        struct stat data, root;
        if (stat("/data", &data) < 0 || stat("/", &root) < 0 || data.st_dev == root.st_dev) {
                agent_start(&a, "--no-poweroff");
                agent_expect_ready(&a);
                agent_send(&a, "DISKTEST FILL 1 1\nDISKTEST CHECK\n");
                agent_expect(&a, "ERR DISKTEST FILL: /data is not mounted (no data disk)");
                agent_expect(&a, "ERR DISKTEST CHECK: /data is not mounted (no data disk)");
                agent_close(&a);
        }
}

static void test_hangup(void) {
        Agent a;

        /* On a plain socket, the host closing its end ends the agent. */
        agent_start(&a, "--no-poweroff");
        agent_expect_ready(&a);
        agent_close(&a);
}

static bool is_hex(const char *s, size_t n) {
        return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* What a clone's identity is made of: entropy, clock, hostname, machine-id, and reading them back. */
static void test_identity(void) {
        char root[] = "/tmp/test-agent-XXXXXX", opt[64];
        _cleanup_free_ char *etc = NULL, *text = NULL;
        bool root_user = geteuid() == 0;
        Agent a;

        check(mkdtemp(root));
        check(asprintf(&etc, "%s/etc", root) > 0 && mkdir(etc, 0755) == 0);
        (void) snprintf(opt, sizeof opt, "--root=%s", root);
        agent_own_uts = root_user;
        agent_start(&a, opt);
        agent_own_uts = false;
        agent_expect_ready(&a);

        /* Two reads of the guest's random state differ; each is 64 bytes. */
        {
                _cleanup_free_ char *r1 = NULL, *r2 = NULL;

                agent_send(&a, "RANDOM\nRANDOM\n");
                r1 = agent_read_line(&a);
                r2 = agent_read_line(&a);
                check(r1 && r2 && strncmp(r1, "RANDOM ", 7) == 0 && is_hex(r1 + 7, 128) && is_hex(r2 + 7, 128));
                check(!streq(r1, r2));
        }

        /* Entropy: 16 to 96 bytes of hex; mixing it in takes root (CAP_SYS_ADMIN). */
        agent_send(&a, "ENTROPY 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
        if (root_user)
                agent_expect(&a, "OK ENTROPY");
        else {
                _cleanup_free_ char *l = agent_read_line(&a);
                check(l && strncmp(l, "ERR RNDADDENTROPY", 17) == 0);
        }
        for (const char *const *bad = STRV_MAKE(
                     "ENTROPY\n",
                     "ENTROPY 0011\n",
                     "ENTROPY 0g112233445566778899aabbccddeeff\n",
                     "ENTROPY 0112233445566778899aabbccddeeff\n");
             *bad;
             bad++) {
                agent_send(&a, *bad);
                agent_expect(&a, "ERR ENTROPY takes 16 to 96 bytes as hex");
        }

        /* The clock reads as the host's; a malformed setting is refused (setting it here would set the
         * build host's: the boot check does that in a guest). */
        agent_send(&a, "CLOCK\n");
        {
                _cleanup_free_ char *l = agent_read_line(&a);
                struct timespec now;
                long long s;

                check(clock_gettime(CLOCK_REALTIME, &now) == 0);
                check(l && sscanf(l, "CLOCK %lld.", &s) == 1 && llabs(s - (long long) now.tv_sec) <= 1);
        }
        for (const char *const *bad = STRV_MAKE(
                     "CLOCK 12\n",
                     "CLOCK -1.000000000\n",
                     "CLOCK 1.5\n",
                     "CLOCK x.000000000\n",
                     "CLOCK 1.00000000a\n");
             *bad;
             bad++) {
                agent_send(&a, *bad);
                agent_expect(&a, "ERR CLOCK takes <seconds>.<9 digits of nanoseconds>");
        }

        /* The machine ID, below --root. */
        agent_send(&a, "MACHINEID 0123456789abcdef0123456789abcdef\nMACHINEID\n");
        agent_expect(&a, "OK MACHINEID");
        agent_expect(&a, "MACHINEID 0123456789abcdef0123456789abcdef");
        check(asprintf(&text, "%s/machine-id", etc) > 0);
        {
                _cleanup_free_ char *content = NULL;
                check(read_full_file(text, &content, NULL) >= 0 &&
                      streq(content, "0123456789abcdef0123456789abcdef\n"));
        }
        agent_send(&a, "MACHINEID 0123456789ABCDEF0123456789abcdef\n");
        agent_expect(&a, "ERR MACHINEID takes 32 lowercase hex digits");

        /* The host name, in the agent's own UTS namespace. */
        if (root_user) {
                agent_send(&a, "HOSTNAME clone-7.example\nHOSTNAME\n");
                agent_expect(&a, "OK HOSTNAME");
                agent_expect(&a, "HOSTNAME clone-7.example");
        }
        agent_send(&a, "HOSTNAME a b\n");
        agent_expect(&a, "ERR HOSTNAME takes 1 to 64 letters, digits, '-', '.' or '_'");

        agent_close(&a);
        check(rm_rf(root) >= 0);
}

/* Without a display: SCREEN checks its arguments, then says so; INPUT reports nothing typed. */
static void test_screen_no_display(void) {
        Agent a;

        agent_start(&a, "--no-poweroff");
        agent_expect_ready(&a);
        agent_send(&a, "SCREEN 3366cc phone-7\nSCREEN 3366c phone-7\n");
        agent_expect(&a, "ERR no display");
        agent_expect(&a, "ERR SCREEN colour must be 6 hex digits (rrggbb)");
        agent_send(&a, "INPUT\nINPUT CLEAR\nINPUT NOW\n");
        agent_expect(&a, "INPUT keys=0 text= taps=0 last=-1,-1");
        agent_expect(&a, "OK INPUT");
        agent_expect(&a, "ERR INPUT takes nothing or CLEAR");
        agent_close(&a);

        /* A display file the agent cannot use, or one without its size: it does not start. */
        for (const char *const *const *bad =
                     (const char *const *const[]){
                             STRV_MAKE("--fb", "/nonexistent/fb", "--fb-size", "10x10"),
                             STRV_MAKE("--fb", "/dev/null"),
                             STRV_MAKE("--fb", "/dev/null", "--fb-size", "0x10"),
                             STRV_MAKE("--input", "/nonexistent/input"),
                             NULL,
                     };
             *bad;
             bad++) {
                agent_startv(&a, *bad);
                check(!agent_read_line(&a));
                check(agent_wait(&a) == 1);
        }
}

#define FB_W 200U
#define FB_H 300U

/* A pixel of the framebuffer file (XRGB8888), as 0xrrggbb. */
static uint32_t fb_pixel(int fb, unsigned x, unsigned y) {
        uint32_t v;

        check(pread(fb, &v, sizeof(v), ((off_t) y * FB_W + x) * 4) == sizeof(v));
        return v & 0xffffff;
}

static bool fb_all_zero(int fb) {
        for (unsigned y = 0; y < FB_H; y++)
                for (unsigned x = 0; x < FB_W; x++)
                        if (fb_pixel(fb, x, y) != 0)
                                return false;
        return true;
}

static bool dark(uint32_t rgb) {
        return (rgb >> 16 & 0xff) < 0x40 && (rgb >> 8 & 0xff) < 0x40 && (rgb & 0xff) < 0x40;
}

static void send_event(int fd, uint16_t type, uint16_t code, int32_t value) {
        struct input_event ev = { .type = type, .code = code, .value = value };

        check(write(fd, &ev, sizeof(ev)) == (ssize_t) sizeof(ev));
}

static void send_key(int fd, uint16_t code) {
        send_event(fd, EV_KEY, code, 1);
        send_event(fd, EV_SYN, SYN_REPORT, 0);
        send_event(fd, EV_KEY, code, 0);
        send_event(fd, EV_SYN, SYN_REPORT, 0);
}

/* SCREEN on a framebuffer file: the band in the colour on top, the dark background below; bad arguments
 * change nothing. INPUT: keys from an event fifo (shift included), a tap scaled to the screen. */
static void test_screen(void) {
        char dir[] = "/tmp/test-agent-screen.XXXXXX";
        _cleanup_free_ char *fb_path = NULL, *input_path = NULL, *kmsg_path = NULL, *title_long = NULL;
        _cleanup_close_ int fb = -EBADF, input = -EBADF;
        uint32_t bg;
        Agent a;

        check(mkdtemp(dir));
        check(asprintf(&fb_path, "%s/fb", dir) > 0);
        check(asprintf(&input_path, "%s/input", dir) > 0);
        check(asprintf(&kmsg_path, "%s/kmsg", dir) > 0);
        fb = open(fb_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        check(fb >= 0 && ftruncate(fb, FB_W * FB_H * 4) == 0);
        check(mkfifo(input_path, 0600) == 0);
        check(write_file_atomic(kmsg_path, "6,1,100,-;Linux version 6.1\n SUBSYSTEM=x\n4,2,200,-;warning\n") >=
              0);

        agent_startv(
                &a,
                STRV_MAKE("--fb", fb_path, "--fb-size", "200x300", "--input", input_path, "--kmsg", kmsg_path));
        agent_expect_ready(&a);
        /* The agent holds the fifo's read end by now. */
        input = open(input_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        check(input >= 0);

        /* Bad arguments: an ERR naming the problem, nothing drawn. */
        check(asprintf(&title_long, "SCREEN 3366cc %065d\n", 0) > 0);
        agent_send(&a, title_long);
        agent_expect(&a, "ERR SCREEN title must be 1 to 64 printable ASCII characters without spaces");
        agent_send(&a, "SCREEN 3366cc phone-7 \x01\n");
        agent_expect(&a, "ERR SCREEN subtitle must be 1 to 64 printable ASCII characters without spaces");
        agent_send(&a, "SCREEN 3366cc \xe9t\n");
        agent_expect(&a, "ERR SCREEN title must be 1 to 64 printable ASCII characters without spaces");
        for (const char *const *bad =
                     STRV_MAKE("SCREEN 3366cg phone\n", "SCREEN #3366c phone\n", "SCREEN 3366ccd phone\n");
             *bad;
             bad++) {
                agent_send(&a, *bad);
                agent_expect(&a, "ERR SCREEN colour must be 6 hex digits (rrggbb)");
        }
        for (const char *const *bad =
                     STRV_MAKE("SCREEN\n", "SCREEN 3366cc\n", "SCREEN 3366cc a b c\n", "SCREEN 3366cc a  b\n");
             *bad;
             bad++) {
                agent_send(&a, *bad);
                agent_expect(&a, "ERR SCREEN takes <rrggbb> <title> [<subtitle>]");
        }
        check(fb_all_zero(fb));

        /* The band: the top fifth in the colour (no font here, so no text in it); below, the background. */
        agent_send(&a, "SCREEN 3366cc phone-7 work\n");
        agent_expect(&a, "OK SCREEN 200x300");
        check(fb_pixel(fb, 0, 0) == 0x3366cc);
        check(fb_pixel(fb, FB_W - 1, FB_H / 5 - 1) == 0x3366cc);
        check(fb_pixel(fb, FB_W / 2, FB_H / 10) == 0x3366cc);
        bg = fb_pixel(fb, 0, FB_H / 5);
        check(dark(bg));
        check(fb_pixel(fb, FB_W - 1, FB_H - 1) == bg);
        check(fb_pixel(fb, FB_W / 2, FB_H / 2) == bg);

        /* A bad one later leaves the screen as it was. */
        agent_send(&a, "SCREEN ffffff \n");
        agent_expect(&a, "ERR SCREEN title must be 1 to 64 printable ASCII characters without spaces");
        check(fb_pixel(fb, 0, 0) == 0x3366cc);

        /* "h", shift + "i" "1", enter, F1 (a key, but no text). */
        send_key(input, KEY_H);
        send_event(input, EV_KEY, KEY_LEFTSHIFT, 1);
        send_key(input, KEY_I);
        send_key(input, KEY_1);
        send_event(input, EV_KEY, KEY_LEFTSHIFT, 0);
        send_key(input, KEY_ENTER);
        send_key(input, KEY_F1);
        /* A tap mid-screen: the press and its position in one frame, in either order. */
        send_event(input, EV_KEY, BTN_LEFT, 1);
        send_event(input, EV_ABS, ABS_X, 16384);
        send_event(input, EV_ABS, ABS_Y, 24576);
        send_event(input, EV_SYN, SYN_REPORT, 0);
        send_event(input, EV_KEY, BTN_LEFT, 0);
        send_event(input, EV_SYN, SYN_REPORT, 0);
        agent_send(&a, "INPUT\n");
        /* 16384 * 199 / 32767 = 99.5, 24576 * 299 / 32767 = 224.3 */
        agent_expect(&a, "INPUT keys=6 text=6849210a taps=1 last=99,224");
        /* A cross where it was tapped. */
        check(fb_pixel(fb, 99, 224) != bg && fb_pixel(fb, 99, 224) != 0);

        /* The last 64 characters typed, no more. */
        for (unsigned i = 0; i < 70; i++)
                send_key(input, i % 2 ? KEY_A : KEY_B);
        agent_send(&a, "INPUT\n");
        {
                _cleanup_free_ char *line = agent_read_line(&a), *want = NULL;
                char hex[129];

                for (unsigned i = 0; i < 64; i++)
                        memcpy(hex + 2 * i, (70 - 64 + i) % 2 ? "61" : "62", 2);
                hex[128] = '\0';
                check(asprintf(&want, "INPUT keys=76 text=%s taps=1 last=99,224", hex) > 0);
                check(line && streq(line, want));
        }

        agent_send(&a, "INPUT CLEAR\nINPUT\n");
        agent_expect(&a, "OK INPUT");
        agent_expect(&a, "INPUT keys=0 text= taps=0 last=-1,-1");
        check(fb_pixel(fb, 99, 224) == bg);
        check(fb_pixel(fb, 0, 0) == 0x3366cc);

        /* A light band, and a fifo whose writer is gone: the agent goes on without it. */
        input = safe_close(input);
        agent_send(&a, "SCREEN f0e68c phone-8\nINPUT\n");
        agent_expect(&a, "OK SCREEN 200x300");
        agent_expect(&a, "INPUT keys=0 text= taps=0 last=-1,-1");
        check(fb_pixel(fb, FB_W - 1, 0) == 0xf0e68c);
        agent_close(&a);
        check(rm_rf(dir) >= 0);
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "Usage: %s PATH-TO-VMMD-AGENT\n", argv[0]);
                return EXIT_FAILURE;
        }
        agent_path = argv[1];
        (void) signal(SIGPIPE, SIG_IGN);

        test_protocol();
        test_reboot();
        test_crash();
        test_memtest();
        test_disktest();
        test_hangup();
        test_identity();
        test_screen_no_display();
        test_screen();
        return EXIT_SUCCESS;
}
