/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/memory.yaml: how much guest memory vmmd promises in total, against the host's. */
#pragma once

#include <stdint.h>

#include "util.h"

#define MEMORY_OVERCOMMIT_PERCENT_DEFAULT 150
#define MEMORY_OVERCOMMIT_PERCENT_MIN 50
#define MEMORY_OVERCOMMIT_PERCENT_MAX 1000
#define MEMORY_LIMIT_MIB_MAX (UINT64_C(1) << 30)

typedef struct MemoryPolicy {
        /* Running guests may be promised up to this share of the host's RAM, in percent. */
        uint64_t overcommit_percent;
        /* A fixed limit in MiB instead; 0: none. */
        uint64_t limit_mib;
} MemoryPolicy;

#define MEMORY_POLICY_DEFAULT ((MemoryPolicy){ .overcommit_percent = MEMORY_OVERCOMMIT_PERCENT_DEFAULT })

/* Parses the file strictly (unknown keys, bad values: -EINVAL with file, line and key in ret_error). A
 * missing file is -ENOENT: the defaults apply. */
int memory_policy_load(const char *path, MemoryPolicy *ret, char **ret_error);

/* The most guest memory that may be promised on a host with host_mib MiB. */
uint64_t memory_policy_limit_mib(const MemoryPolicy *p, uint64_t host_mib);
