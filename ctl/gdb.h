/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gdb-multiarch on a guest kernel: finding it, its command lines for a crash bundle's memory dump and for a
 * live guest, handing it file descriptors, and the relay between its "target remote |" pipe and the
 * debugger socket vmmd hands out. No bus here. */
#pragma once

#include "util.h"

#define GDB_PROGRAM "gdb-multiarch"
#define GDB_PACKAGE "gdb-multiarch" /* Debian's */

/* The path of GDB_PROGRAM in $PATH (or the default search path). -ENOENT: not there. */
int gdb_find(char **ret);

/* s quoted for /bin/sh, which runs gdb's "target remote | COMMAND": 'single quotes', with ' as '\''. */
char *shell_quote(const char *s);

/* gdb's argv for a crash bundle: the aarch64 architecture, the kernel's symbols (symbols_fd), the memory
 * dump (core_fd), both through /proc/self/fd, and the thread of the CPU that panicked (gdb's threads are
 * the dump's NT_PRSTATUS notes in order, from 1; QEMU writes one per vCPU, in vCPU order); then extra. */
int gdb_crash_argv(int core_fd, int symbols_fd, unsigned cpu, char *const *extra, char ***ret);

/* gdb's argv for a live guest kernel: the architecture, the symbols, and "target remote | " with remote (a
 * command's argv, quoted for the shell) as the connection; then extra. */
int gdb_debug_argv(int symbols_fd, char *const *remote, char *const *extra, char ***ret);

/* Runs path with argv and the file descriptors fds inherited (O_CLOEXEC cleared); everything else stays
 * close-on-exec. Returns only on failure, a negative errno. */
int gdb_exec(const char *path, char *const *argv, const int *fds, size_t n_fds);

/* Relays bytes between in_fd/out_fd (gdb's end of the pipe) and sock_fd (the debugger's socket), both ways,
 * until either side ends: end of input is passed on as shutdown(SHUT_WR), and what the socket still sends
 * then is written out until it ends too; a socket that ends, or an out_fd nobody reads any more, ends the
 * relay once what it holds is delivered. The fds are made non-blocking meanwhile. SIGPIPE must be ignored.
 * 0 when a side ended, else a negative errno. */
int debug_relay(int in_fd, int out_fd, int sock_fd);
