/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Rules for VM and snapshot names, shared by vmmd and vmctl so both reject the same names. */
#pragma once

#include "util.h"

#define VM_NAME_MAX 64

/* NULL when 'name' is a valid VM name, else a phrase naming the rule it breaks ("contains '/'"). */
const char *vm_name_invalid_reason(const char *name);

static inline bool vm_name_is_valid(const char *name) {
        return !vm_name_invalid_reason(name);
}

/* Snapshot names follow the VM name rules (they reach qemu-img's command line and QEMU's monitor), and are
 * not all digits: QEMU takes such a name for a snapshot's numeric ID as well. */
const char *snapshot_name_invalid_reason(const char *name);

/* Decodes one UTF-8 code point at s; returns its length or -EINVAL for an invalid sequence. */
int utf8_decode(const char *s, uint32_t *ret_cp);
bool utf8_is_valid(const char *s);
/* A copy of s fit to show a person and to send over D-Bus: valid UTF-8, control characters and invalid bytes
 * as '?', at most max bytes, cut at a character boundary. NULL only when out of memory. */
char *utf8_printable(const char *s, size_t max);
/* The same for text of several lines: "\n" stays, "\r" goes. */
char *utf8_printable_lines(const char *s, size_t max);
