/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/memory.yaml. */
#include <errno.h>

#include "memory-policy.h"
#include "yaml-util.h"

/* clang-format off */
static const YamlField memory_policy_fields[] = {
        { "overcommit_percent", yaml_parse_uint64, offsetof(MemoryPolicy, overcommit_percent), false,
          MEMORY_OVERCOMMIT_PERCENT_MIN, MEMORY_OVERCOMMIT_PERCENT_MAX },
        { "limit_mib", yaml_parse_uint64, offsetof(MemoryPolicy, limit_mib), false, 0, MEMORY_LIMIT_MIB_MAX },
        {}
};
/* clang-format on */

int memory_policy_load(const char *path, MemoryPolicy *ret, char **ret_error) {
        _cleanup_(yaml_tree_freep) YamlNode *root = NULL;
        MemoryPolicy p = MEMORY_POLICY_DEFAULT;
        int r;

        r = yaml_tree_load_optional(path, &root, ret_error);
        if (r < 0)
                return r;
        r = yaml_parse_mapping(path, NULL, root, memory_policy_fields, &p, ret_error);
        if (r < 0)
                return r;
        *ret = p;
        return 0;
}

uint64_t memory_policy_limit_mib(const MemoryPolicy *p, uint64_t host_mib) {
        if (p->limit_mib > 0)
                return p->limit_mib;
        return host_mib * p->overcommit_percent / 100;
}
