/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/access.yaml: the shipped file's verdicts for the phone's people, and files refused with a reason. */
#include <assert.h>
#include <stdio.h>

#include "access.h"

static char dir[] = "/tmp/test-access-XXXXXX";

static char *write_file(const char *text) {
        char *path;
        FILE *f;

        assert(asprintf(&path, "%s/access.yaml", dir) >= 0);
        f = fopen(path, "we");
        assert(f);
        assert(fputs(text, f) >= 0);
        assert(fclose(f) == 0);
        return path;
}

static void expect_bad(const char *text, const char *fragment) {
        _cleanup_free_ char *path = write_file(text), *error = NULL;
        AccessPolicy p = { .n_rules = 4711 };

        assert(access_policy_load(path, &p, &error) == -EINVAL);
        if (!error || !strstr(error, fragment)) {
                fprintf(stderr, "%s: error %s does not name %s\n", text, strna(error), fragment);
                abort();
        }
        assert(p.n_rules == 4711); /* untouched */
}

#define CALLER(u, n, ...) \
        ((Caller){ .uid = (u), .user = (char *) (n), .groups = (char **) STRV_MAKE(__VA_ARGS__) })

static void test_shipped(const char *policy_dir) {
        _cleanup_free_ char *path = NULL, *error = NULL;
        AccessPolicy p = {};
        Caller mdm = CALLER(1001, "it", "it", "vmmd-mdm"), alice = CALLER(1002, "alice", "alice", "vmmd"),
               mallory = CALLER(1003, "mallory", "mallory");

        assert(asprintf(&path, "%s/access.yaml", policy_dir) >= 0);
        assert(access_policy_load(path, &p, &error) == 0);

        /* The work phone: the employer makes and manages it, the phone's user only uses it. */
        assert(access_may_create(&p, "work", &mdm));
        assert(!access_may_create(&p, "work", &alice));
        assert(access_level(&p, "work", mdm.uid, &mdm) == ACCESS_OWNER);
        assert(access_level(&p, "work", 0, &mdm) == ACCESS_MANAGE);
        assert(access_level(&p, "work", mdm.uid, &alice) == ACCESS_USE);
        assert(access_level(&p, "work", mdm.uid, &mallory) == ACCESS_NONE);

        /* The home phone: its user's alone; the employer does not even see it. */
        assert(access_may_create(&p, "home", &alice));
        assert(!access_may_create(&p, "home", &mallory));
        assert(access_level(&p, "home", alice.uid, &alice) == ACCESS_OWNER);
        assert(access_level(&p, "home", alice.uid, &mdm) == ACCESS_NONE);
        assert(access_level(&p, "home", alice.uid, &mallory) == ACCESS_NONE);

        /* Throwaways: anyone makes one, nobody else touches it. */
        assert(access_may_create(&p, "throwaway", &mallory));
        assert(access_level(&p, "throwaway", mallory.uid, &alice) == ACCESS_NONE);
        assert(access_level(&p, "throwaway", alice.uid, &mallory) == ACCESS_NONE);

        /* A persona the file does not name: nobody creates it (root is let through by the bus layer). */
        assert(!access_may_create(&p, "manual", &alice));
        assert(access_level(&p, "manual", alice.uid, &alice) == ACCESS_OWNER);
        assert(access_level(&p, "manual", alice.uid, &mdm) == ACCESS_NONE);
        access_policy_done(&p);
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *missing = NULL, *empty = NULL;
        AccessPolicy p = {};

        assert(argc == 2);
        assert(mkdtemp(dir));
        test_shipped(argv[1]);

        assert(asprintf(&missing, "%s/none.yaml", dir) >= 0);
        assert(access_policy_load(missing, &p, NULL) == -ENOENT);
        empty = write_file("# nobody but root\n{}\n");
        assert(access_policy_load(empty, &p, NULL) == 0 && p.n_rules == 0);
        assert(!access_may_create(&p, "throwaway", &CALLER(1, "a", "a")));
        access_policy_done(&p);

        expect_bad("- work\n", "expected a mapping of persona names");
        expect_bad("work:\n  create: \"@g\"\n", "expected a list");
        expect_bad("work:\n  create: [\"@g\"]\n  delete: []\n", "unknown key \"delete\"");
        expect_bad("work:\n  create: [\"a b\"]\n", "entry \"a b\"");
        expect_bad("work:\n  create: [\"@\"]\n", "the name is empty");
        expect_bad("work:\n  create: []\nwork:\n  use: []\n", "persona given twice");
        expect_bad("../x:\n  use: []\n", "not a persona name");
        expect_bad("work:\n  use: [[a]]\n", "work.use");
        expect_bad("work: yes\n", "expected a mapping with create, manage, use");

        assert(unlink(empty) == 0 && rmdir(dir) == 0);
        return 0;
}
