/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/memory.yaml, and the policy's decisions. */
#include <errno.h>

#include "memory-policy.h"
#include "yaml-util.h"

/* clang-format off */
static const YamlField memory_policy_fields[] = {
        { "overcommit_percent", yaml_parse_uint64, offsetof(MemoryPolicy, overcommit_percent), false,
          MEMORY_OVERCOMMIT_PERCENT_MIN, MEMORY_OVERCOMMIT_PERCENT_MAX },
        { "limit_mib", yaml_parse_uint64, offsetof(MemoryPolicy, limit_mib), false, 0, MEMORY_LIMIT_MIB_MAX },
        { "interval_ms", yaml_parse_uint64, offsetof(MemoryPolicy, interval_ms), false, 0, MEMORY_INTERVAL_MS_MAX },
        { "pressure_high_percent", yaml_parse_uint64, offsetof(MemoryPolicy, pressure_high), false, 1, 100 },
        { "pressure_low_percent", yaml_parse_uint64, offsetof(MemoryPolicy, pressure_low), false, 0, 100 },
        { "host_reserve_mib", yaml_parse_uint64, offsetof(MemoryPolicy, host_reserve_mib), false, 0,
          MEMORY_LIMIT_MIB_MAX },
        { "guest_reserve_mib", yaml_parse_uint64, offsetof(MemoryPolicy, guest_reserve_mib), false, 0,
          MEMORY_LIMIT_MIB_MAX },
        { "step_mib", yaml_parse_uint64, offsetof(MemoryPolicy, step_mib), false, 1, MEMORY_LIMIT_MIB_MAX },
        { "ksm", yaml_parse_bool, offsetof(MemoryPolicy, ksm), false },
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
        if (p.interval_ms > 0 && p.interval_ms < MEMORY_INTERVAL_MS_MIN) {
                if (ret_error)
                        (void) asprintf(
                                ret_error,
                                "%s: interval_ms: %" PRIu64 " is too short: 0 (no loop) or at least %u",
                                path,
                                p.interval_ms,
                                MEMORY_INTERVAL_MS_MIN);
                return -EINVAL;
        }
        if (p.pressure_low > p.pressure_high) {
                if (ret_error)
                        (void) asprintf(
                                ret_error,
                                "%s: pressure_low_percent (%" PRIu64
                                ") is above pressure_high_percent (%" PRIu64 ")",
                                path,
                                p.pressure_low,
                                p.pressure_high);
                return -EINVAL;
        }
        *ret = p;
        return 0;
}

uint64_t memory_policy_limit_mib(const MemoryPolicy *p, uint64_t host_mib) {
        if (p->limit_mib > 0)
                return p->limit_mib;
        return host_mib * p->overcommit_percent / 100;
}

bool memory_policy_pressure(const MemoryPolicy *p, const MemoryHost *h, bool was) {
        bool known_avail = h->available_mib != MEMORY_UNKNOWN;

        if (h->pressure >= (double) p->pressure_high ||
            (known_avail && h->available_mib < p->host_reserve_mib))
                return true;
        if (!was)
                return false;
        /* It was: it stays until both are well clear. */
        return h->pressure >= (double) p->pressure_low ||
                (known_avail && h->available_mib < 2 * p->host_reserve_mib);
}

uint64_t memory_policy_floor(const MemoryPolicy *p, const MemoryPolicyVM *v) {
        uint64_t spare;

        if (v->fixed || v->deflated || v->available_mib == MEMORY_UNKNOWN ||
            v->target_mib <= MEMORY_TARGET_MIN_MIB)
                return v->target_mib;
        spare = v->available_mib > p->guest_reserve_mib ? v->available_mib - p->guest_reserve_mib : 0;
        return MAX(v->target_mib - MIN(spare, v->target_mib), MEMORY_TARGET_MIN_MIB);
}

static bool short_of_memory(const MemoryPolicy *p, const MemoryPolicyVM *v) {
        return !v->fixed && v->available_mib != MEMORY_UNKNOWN && v->target_mib < v->ceiling_mib &&
                (v->available_mib < p->guest_reserve_mib / 2 || v->deflated);
}

static uint64_t sum_targets(const MemoryPolicyVM *vms, size_t n) {
        uint64_t sum = 0;

        for (size_t i = 0; i < n; i++)
                sum += vms[i].target_mib;
        return sum;
}

/* Lowers the targets of the background VMs (foreground: false) or of the foreground one toward their floor,
 * by up to max_each, until total is given (UINT64_MAX: as much as each may). Returns what was given. */
static uint64_t give_back(
        const MemoryPolicy *p, MemoryPolicyVM *vms, size_t n, bool foreground, uint64_t max_each, uint64_t total) {
        uint64_t given = 0;

        for (size_t i = 0; i < n && given < total; i++) {
                MemoryPolicyVM *v = vms + i;
                uint64_t d;

                if (v->foreground != foreground)
                        continue;
                d = MIN(MIN(v->target_mib - memory_policy_floor(p, v), max_each), total - given);
                v->target_mib -= d;
                given += d;
        }
        return given;
}

/* Lowers targets, background VMs first (the foreground one too if from_foreground), so that need_mib more
 * fit under limit_mib; -ENOSPC and nothing moved if they cannot. */
static int make_room(
        const MemoryPolicy *p,
        uint64_t limit_mib,
        uint64_t need_mib,
        MemoryPolicyVM *vms,
        size_t n,
        bool from_foreground) {
        uint64_t committed = sum_targets(vms, n), reclaimable = 0, excess;

        if (limit_mib == 0 || committed + need_mib <= limit_mib)
                return 0;
        if (need_mib > limit_mib)
                return -ENOSPC;
        excess = committed + need_mib - limit_mib;
        for (size_t i = 0; i < n; i++)
                if (from_foreground || !vms[i].foreground)
                        reclaimable += vms[i].target_mib - memory_policy_floor(p, vms + i);
        if (reclaimable < excess)
                return -ENOSPC;

        excess -= give_back(p, vms, n, false, UINT64_MAX, excess);
        if (from_foreground)
                (void) give_back(p, vms, n, true, UINT64_MAX, excess);
        return 0;
}

int memory_policy_make_room(
        const MemoryPolicy *p, uint64_t limit_mib, uint64_t need_mib, MemoryPolicyVM *vms, size_t n) {
        return make_room(p, limit_mib, need_mib, vms, n, true);
}

void memory_policy_step(const MemoryPolicy *p, bool pressure, uint64_t limit_mib, MemoryPolicyVM *vms, size_t n) {
        /* Guests that are short get more: the foreground one first, always; the others while the host can
         * spare it. Over the limit, the background phones' balloons make room for it (and the foreground
         * one's for the foreground phone); what they cannot, it does without. */
        for (int fg = 1; fg >= 0; fg--)
                for (size_t i = 0; i < n; i++) {
                        MemoryPolicyVM *v = vms + i;
                        uint64_t committed, d;

                        if (v->foreground != fg || !short_of_memory(p, v) || (pressure && !v->foreground))
                                continue;
                        d = MIN(p->step_mib, v->ceiling_mib - v->target_mib);
                        if (make_room(p, limit_mib, d, vms, n, v->foreground) < 0) {
                                committed = sum_targets(vms, n);
                                d = limit_mib > committed ? limit_mib - committed : 0;
                        }
                        v->target_mib += d;
                }

        /* Under pressure, what the guests do not use goes back to the host: the background phones' first. (A
         * guest that was short has nothing to give: its floor is its target.) */
        if (pressure && give_back(p, vms, n, false, p->step_mib, UINT64_MAX) == 0)
                (void) give_back(p, vms, n, true, p->step_mib, UINT64_MAX);
}

static bool same_group(const MemoryPolicyVM *a, const MemoryPolicyVM *b) {
        return a->golden && b->golden && streq(a->golden, b->golden) && a->owner == b->owner;
}

void memory_policy_merge(const MemoryPolicy *p, MemoryPolicyVM *vms, size_t n) {
        size_t best = SIZE_MAX, best_size = 0;
        bool best_merging = false;

        if (p->ksm)
                for (size_t i = 0; i < n; i++) {
                        size_t size = 0;
                        bool merging = false, seen = false;

                        if (!vms[i].golden)
                                continue;
                        for (size_t j = 0; j < n; j++)
                                if (same_group(vms + i, vms + j)) {
                                        seen = seen || j < i; /* counted with its first member */
                                        size++;
                                        merging = merging || vms[j].merge;
                                }
                        if (seen || size < 2)
                                continue;
                        if (size > best_size || (size == best_size && merging && !best_merging)) {
                                best = i;
                                best_size = size;
                                best_merging = merging;
                        }
                }

        for (size_t i = 0; i < n; i++)
                vms[i].merge = best != SIZE_MAX && same_group(vms + best, vms + i);
}
