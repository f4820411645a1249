/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging to the journal (with fields) or to stderr. */
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static const char *ident = "vmmd";
static int use_journal = -1;

void log_set_max_level(int level) {
        max_level = level;
}

void log_set_ident(const char *s) {
        ident = s;
}

/* Like systemd: stderr goes to the journal when $JOURNAL_STREAM names its device and inode. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

int log_internal(
        int level, int error, const char *vm, const char *file, int line, const char *func, const char *fmt, ...) {
        char buf[2048];
        va_list ap;

        error = error < 0 ? -error : error;
        if (level > max_level)
                return -error;

        errno = error;
        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        if (use_journal < 0)
                use_journal = stderr_is_journal();

        if (use_journal) {
                char code_file[256], code_line[32], message[sizeof(buf) + 16], priority[32], identifier[64],
                        errno_field[32], vm_field[128];
                struct iovec iov[6];
                int n = 0;

                (void) snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
                (void) snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
#define FIELD(b, ...) (void) snprintf(b, sizeof(b), __VA_ARGS__), iov[n++] = (struct iovec){ b, strlen(b) }
                FIELD(message, "MESSAGE=%s", buf);
                FIELD(priority, "PRIORITY=%i", level);
                FIELD(identifier, "SYSLOG_IDENTIFIER=%s", ident);
                FIELD(errno_field, "ERRNO=%i", error);
                if (vm)
                        FIELD(vm_field, "VM_NAME=%s", vm);
#undef FIELD
                (void) sd_journal_sendv_with_location(code_file, code_line, func, iov, n);
        } else if (vm)
                (void) fprintf(stderr, "%s: %s: %s\n", ident, vm, buf);
        else
                (void) fprintf(stderr, "%s: %s\n", ident, buf);

        return -error;
}
