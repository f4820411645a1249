/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging: structured journal entries when stderr is the journal, plain lines otherwise. */
#pragma once

#include <syslog.h>

#include "util.h"

void log_set_max_level(int level);
void log_set_ident(const char *ident);

/* Logs at level; "%m" expands to the errno 'error'. Returns -abs(error), so a caller can log and
 * return in one step. 'vm' adds a VM_NAME= field to the journal entry. */
int log_internal(
        int level, int error, const char *vm, const char *file, int line, const char *func, const char *fmt, ...)
        _printf_(7, 8);

#define log_full_errno(level, error, ...) \
        log_internal(level, error, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_full_errno(LOG_ERR, ENOMEM, "Out of memory.")

#define log_vm_full_errno(vm, level, error, ...) \
        log_internal(level, error, (vm), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_vm_debug(vm, ...) log_vm_full_errno(vm, LOG_DEBUG, 0, __VA_ARGS__)
#define log_vm_info(vm, ...) log_vm_full_errno(vm, LOG_INFO, 0, __VA_ARGS__)
#define log_vm_notice(vm, ...) log_vm_full_errno(vm, LOG_NOTICE, 0, __VA_ARGS__)
#define log_vm_warning_errno(vm, e, ...) log_vm_full_errno(vm, LOG_WARNING, e, __VA_ARGS__)
#define log_vm_error_errno(vm, e, ...) log_vm_full_errno(vm, LOG_ERR, e, __VA_ARGS__)
