/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/memory.yaml: the shipped file, defaults, the limit, and files that are refused with a reason; the
 * policy's decisions: host pressure in, balloon targets and KSM groups out. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "memory-policy.h"

static char dir[] = "/tmp/test-memory-policy-XXXXXX";

static char *write_file(const char *name, const char *text) {
        char *path;
        FILE *f;

        assert(asprintf(&path, "%s/%s", dir, name) >= 0);
        f = fopen(path, "we");
        assert(f);
        assert(fputs(text, f) >= 0);
        assert(fclose(f) == 0);
        return path;
}

static void expect_bad(const char *text, const char *fragment) {
        _cleanup_free_ char *path = write_file("bad.yaml", text), *error = NULL;
        MemoryPolicy p = { .overcommit_percent = 4711 };

        assert(memory_policy_load(path, &p, &error) == -EINVAL);
        if (!error || !strstr(error, fragment)) {
                fprintf(stderr, "%s: error %s does not name %s\n", text, strna(error), fragment);
                abort();
        }
        assert(p.overcommit_percent == 4711); /* untouched */
}

static const MemoryPolicy policy = MEMORY_POLICY_DEFAULT; /* reserve 64 (short below 32), step 128 */

static void test_pressure(void) {
        /* Begins at pressure_high or below the reserve; ends only below pressure_low with twice the reserve. */
        assert(!memory_policy_pressure(&policy, &(MemoryHost){ 9.99, 1000 }, false));
        assert(memory_policy_pressure(&policy, &(MemoryHost){ 10, 1000 }, false));
        assert(memory_policy_pressure(&policy, &(MemoryHost){ 0, 255 }, false));
        assert(memory_policy_pressure(&policy, &(MemoryHost){ 5, 1000 }, true));
        assert(memory_policy_pressure(&policy, &(MemoryHost){ 1, 511 }, true));
        assert(!memory_policy_pressure(&policy, &(MemoryHost){ 1, 512 }, true));
        /* Unknown figures (no PSI, no meminfo) are no pressure. */
        assert(!memory_policy_pressure(&policy, &(MemoryHost){ -1, MEMORY_UNKNOWN }, false));
        assert(!memory_policy_pressure(&policy, &(MemoryHost){ -1, MEMORY_UNKNOWN }, true));
}

static MemoryPolicyVM vm(uint64_t target, uint64_t available, bool foreground) {
        return (MemoryPolicyVM){
                .ceiling_mib = 256, .target_mib = target, .available_mib = available, .foreground = foreground
        };
}

static void test_floor(void) {
        MemoryPolicyVM v = vm(256, 200, false);

        assert(memory_policy_floor(&policy, &v) == 256 - (200 - 64));
        v.available_mib = 10; /* short: nothing to give */
        assert(memory_policy_floor(&policy, &v) == 256);
        v.available_mib = 250; /* never below the least a balloon leaves */
        v.target_mib = 100;
        assert(memory_policy_floor(&policy, &v) == MEMORY_TARGET_MIN_MIB);
        v.available_mib = MEMORY_UNKNOWN; /* not known (yet): stays */
        assert(memory_policy_floor(&policy, &v) == 100);
        v = vm(256, 200, false);
        v.fixed = true;
        assert(memory_policy_floor(&policy, &v) == 256);
}

static void test_step(void) {
        MemoryPolicyVM vms[3];

        /* Nothing short, no pressure: nothing moves, however much the guests could give. */
        vms[0] = vm(256, 200, true), vms[1] = vm(256, 180, false), vms[2] = vm(128, 40, false);
        memory_policy_step(&policy, false, 0, vms, 3);
        assert(vms[0].target_mib == 256 && vms[1].target_mib == 256 && vms[2].target_mib == 128);

        /* Pressure: each background phone gives up to a step toward its floor; the foreground one keeps. */
        vms[0] = vm(256, 200, true), vms[1] = vm(256, 180, false), vms[2] = vm(128, 100, false);
        memory_policy_step(&policy, true, 0, vms, 3);
        assert(vms[0].target_mib == 256);
        assert(vms[1].target_mib == 256 - 116 && vms[2].target_mib == 128 - 36);

        /* Pressure, every background phone at its floor: now the foreground one gives, a step at most. */
        vms[0] = vm(256, 250, true), vms[1] = vm(140, 64, false), vms[2] = vm(256, MEMORY_UNKNOWN, false);
        memory_policy_step(&policy, true, 0, vms, 3);
        assert(vms[0].target_mib == 128 && vms[1].target_mib == 140 && vms[2].target_mib == 256);

        /* A short guest gets a step more, within its ceiling; a background one not under pressure. */
        vms[0] = vm(100, 20, true), vms[1] = vm(200, 31, false), vms[2] = vm(100, 10, false);
        vms[1].ceiling_mib = 220; /* its owner asked for 220 */
        memory_policy_step(&policy, false, 0, vms, 3);
        assert(vms[0].target_mib == 228 && vms[1].target_mib == 220 && vms[2].target_mib == 228);
        vms[0] = vm(100, 20, true), vms[1] = vm(200, 31, false), vms[2] = vm(100, 10, false);
        memory_policy_step(&policy, true, 0, vms, 3);
        assert(vms[0].target_mib == 228 && vms[1].target_mib == 200 && vms[2].target_mib == 100);

        /* Within the limit, the foreground phone first: 400 promised of 500. */
        vms[0] = vm(200, 31, false), vms[1] = vm(100, 10, true), vms[2] = vm(100, 10, false);
        memory_policy_step(&policy, false, 500, vms, 3);
        assert(vms[1].target_mib == 200 && vms[0].target_mib == 200 && vms[2].target_mib == 100);

        /* A guest whose balloon deflated under its own pressure (deflate-on-oom) is short, whatever it has
         * available now. */
        vms[0] = vm(128, 100, false), vms[1] = vm(256, 200, false);
        vms[0].deflated = true;
        memory_policy_step(&policy, false, 0, vms, 2);
        assert(vms[0].target_mib == 256 && vms[1].target_mib == 256);
        /* ... and under pressure it gives nothing. */
        vms[0] = vm(128, 100, false), vms[1] = vm(256, 200, false);
        vms[0].deflated = true;
        memory_policy_step(&policy, true, 0, vms, 2);
        assert(vms[0].target_mib == 128 && vms[1].target_mib == 128);

        /* At the limit, a short guest gets what background phones do not use; a background one never takes
         * from the foreground phone. */
        vms[0] = vm(256, 200, false), vms[1] = vm(100, 10, true);
        memory_policy_step(&policy, false, 356, vms, 2);
        assert(vms[1].target_mib == 228 && vms[0].target_mib == 128);
        vms[0] = vm(256, 200, true), vms[1] = vm(100, 10, false);
        memory_policy_step(&policy, false, 356, vms, 2);
        assert(vms[0].target_mib == 256 && vms[1].target_mib == 100);

        /* A fixed VM (paused, busy) and one whose guest did not answer yet keep their targets. */
        vms[0] = vm(100, 10, true), vms[1] = vm(256, 200, false), vms[2] = vm(256, MEMORY_UNKNOWN, false);
        vms[0].fixed = vms[1].fixed = true;
        memory_policy_step(&policy, true, 0, vms, 3);
        assert(vms[0].target_mib == 100 && vms[1].target_mib == 256 && vms[2].target_mib == 256);
}

static void test_make_room(void) {
        MemoryPolicyVM vms[3];

        /* Fits already: nothing moves. */
        vms[0] = vm(256, 200, true), vms[1] = vm(256, 200, false);
        assert(memory_policy_make_room(&policy, 800, 256, vms, 2) == 0);
        assert(vms[0].target_mib == 256 && vms[1].target_mib == 256);

        /* 768 of 700: the background phone gives its 136 first, the foreground one none. */
        assert(memory_policy_make_room(&policy, 700, 256, vms, 2) == 0);
        assert(vms[0].target_mib == 256 && vms[1].target_mib == 188);

        /* 768 of 600: the background phone all it can (136), the foreground one the rest (32). */
        vms[0] = vm(256, 200, true), vms[1] = vm(256, 200, false);
        assert(memory_policy_make_room(&policy, 600, 256, vms, 2) == 0);
        assert(vms[1].target_mib == 120 && vms[0].target_mib == 224);

        /* More than they can give (272 > 136 + 136 + 0): refused, and nothing moved. */
        vms[0] = vm(256, 200, true), vms[1] = vm(256, 200, false), vms[2] = vm(256, 10, false);
        assert(memory_policy_make_room(&policy, 600, 128, vms, 3) == -ENOSPC);
        assert(vms[0].target_mib == 256 && vms[1].target_mib == 256 && vms[2].target_mib == 256);
        /* No limit, or a VM bigger than the limit. */
        assert(memory_policy_make_room(&policy, 0, 100000, vms, 3) == 0);
        assert(memory_policy_make_room(&policy, 600, 601, vms, 0) == -ENOSPC);
}

static void test_merge(void) {
        MemoryPolicyVM vms[6] = {
                { .golden = "a" },                /* a group of one: merges with nobody */
                { .golden = "b", .owner = 1000 }, /* b/1000: two */
                { .golden = "b", .owner = 1000 },
                { .golden = "b", .owner = 1001 },  /* b of another owner: trusts neither */
                { .golden = NULL, .merge = true }, /* the work phone: never, whatever it did */
                { .golden = "c", .owner = 1000 },
        };

        memory_policy_merge(&policy, vms, 6);
        assert(!vms[0].merge && vms[1].merge && vms[2].merge && !vms[3].merge && !vms[4].merge &&
               !vms[5].merge);

        /* A second group of two: the one that merges now keeps merging; with three, the bigger one wins. */
        vms[0].golden = "c";
        vms[0].owner = 1000;
        memory_policy_merge(&policy, vms, 6);
        assert(vms[1].merge && vms[2].merge && !vms[0].merge && !vms[5].merge);
        vms[3].golden = "c";
        vms[3].owner = 1000;
        memory_policy_merge(&policy, vms, 6);
        assert(!vms[1].merge && !vms[2].merge && vms[0].merge && vms[3].merge && vms[5].merge);

        /* ksm: false merges nothing. */
        MemoryPolicy off = policy;
        off.ksm = false;
        memory_policy_merge(&off, vms, 6);
        for (size_t i = 0; i < 6; i++)
                assert(!vms[i].merge);
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *shipped = NULL, *some = NULL, *missing = NULL;
        MemoryPolicy p = MEMORY_POLICY_DEFAULT;

        assert(argc == 2);
        assert(mkdtemp(dir));

        /* The shipped file states the defaults. */
        assert(asprintf(&shipped, "%s/memory.yaml", argv[1]) >= 0);
        assert(memory_policy_load(shipped, &p, NULL) == 0);
        assert(p.overcommit_percent == MEMORY_OVERCOMMIT_PERCENT_DEFAULT && p.limit_mib == 0);
        assert(memcmp(&p, &MEMORY_POLICY_DEFAULT, offsetof(MemoryPolicy, ksm)) == 0 && p.ksm);
        assert(memory_policy_limit_mib(&p, 2000) == 3000);

        /* Keys left out keep their defaults; a fixed limit wins over the share. */
        some = write_file("some.yaml", "limit_mib: 600\n");
        assert(memory_policy_load(some, &p, NULL) == 0);
        assert(p.overcommit_percent == MEMORY_OVERCOMMIT_PERCENT_DEFAULT && p.limit_mib == 600);
        assert(memory_policy_load(some, &p, NULL) == 0 && memory_policy_limit_mib(&p, 24000) == 600);

        assert(asprintf(&missing, "%s/none.yaml", dir) >= 0);
        assert(memory_policy_load(missing, &p, NULL) == -ENOENT);

        expect_bad("overcommit_percent: 49\n", "overcommit_percent");
        expect_bad("overcommit_percent: 1001\n", "overcommit_percent");
        expect_bad("overcommit_percent: 1.5\n", "overcommit_percent");
        expect_bad("overcommit_percent: \"150\"\n", "overcommit_percent");
        expect_bad("limit_mib: -1\n", "limit_mib");
        expect_bad("overcommit: 150\n", "overcommit");
        expect_bad("limit_mib: 1\nlimit_mib: 2\n", "limit_mib");
        expect_bad("- 150\n", "bad.yaml");

        /* Like a persona file, one without a single key is a mistake (delete it to get the defaults). */
        expect_bad("# nothing to change\n", "file is empty");

        expect_bad("interval_ms: 50\n", "interval_ms");
        expect_bad("interval_ms: 60001\n", "interval_ms");
        expect_bad("pressure_high_percent: 0\n", "pressure_high_percent");
        expect_bad("pressure_high_percent: 5\npressure_low_percent: 6\n", "pressure_low_percent");
        expect_bad("step_mib: 0\n", "step_mib");
        expect_bad("ksm: clones\n", "ksm");

        test_pressure();
        test_floor();
        test_step();
        test_make_room();
        test_merge();

        _cleanup_free_ char *cmd = NULL;
        assert(asprintf(&cmd, "rm -rf '%s'", dir) >= 0);
        assert(system(cmd) == 0);
        return 0;
}
