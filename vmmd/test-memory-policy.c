/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/memory.yaml: the shipped file, defaults, the limit, and files that are refused with a reason. */
#include <assert.h>
#include <stdio.h>

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

int main(int argc, char *argv[]) {
        _cleanup_free_ char *shipped = NULL, *some = NULL, *missing = NULL;
        MemoryPolicy p = MEMORY_POLICY_DEFAULT;

        assert(argc == 2);
        assert(mkdtemp(dir));

        /* The shipped file states the defaults. */
        assert(asprintf(&shipped, "%s/memory.yaml", argv[1]) >= 0);
        assert(memory_policy_load(shipped, &p, NULL) == 0);
        assert(p.overcommit_percent == MEMORY_OVERCOMMIT_PERCENT_DEFAULT && p.limit_mib == 0);
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

        _cleanup_free_ char *cmd = NULL;
        assert(asprintf(&cmd, "rm -rf '%s'", dir) >= 0);
        assert(system(cmd) == 0);
        return 0;
}
