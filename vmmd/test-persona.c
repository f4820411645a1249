/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Persona files: the shipped ones load with their values, every kind of bad file fails precisely. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "persona.h"

static const char *personas_dir, *bad_dir;

/* Asserts that loading path fails with r and exactly the message path + suffix. */
static void check_bad(const char *path, int expected_r, const char *suffix) {
        _cleanup_(persona_freep) Persona *p = NULL;
        _cleanup_free_ char *error = NULL, *expected = NULL;
        int r;

        assert(asprintf(&expected, "%s%s", path, suffix) >= 0);
        r = persona_load(path, &p, &error);
        if (r != expected_r || !error || !streq(error, expected)) {
                fprintf(stderr,
                        "%s:\n  expected %d \"%s\"\n  got      %d \"%s\"\n",
                        path,
                        expected_r,
                        expected,
                        r,
                        strna(error));
                abort();
        }
        assert(!p);
}

static void write_file(const char *dir, const char *name, const char *contents) {
        _cleanup_free_ char *path = NULL;

        assert(asprintf(&path, "%s/%s", dir, name) >= 0);
        assert(write_file_atomic(path, contents) == 0);
}

static void test_disk_mode_table(void) {
        for (DiskMode m = 0; m < _DISK_MODE_MAX; m++)
                assert(disk_mode_from_string(disk_mode_to_string(m)) == m);
        assert(streq(disk_mode_to_string(DISK_PERSISTENT), "persistent"));
        assert(streq(disk_mode_to_string(DISK_EPHEMERAL), "ephemeral"));
        assert(disk_mode_from_string("Persistent") == _DISK_MODE_INVALID);
        assert(disk_mode_from_string(NULL) == _DISK_MODE_INVALID);
        assert(!disk_mode_to_string(_DISK_MODE_MAX));
        assert(!disk_mode_to_string(_DISK_MODE_INVALID));
}

static void test_shipped(void) {
        _cleanup_free_ char *error = NULL;
        Persona **p = NULL;
        size_t n = 0;

        assert(persona_load_dir(personas_dir, &p, &n, &error) == 0);
        assert(!error);
        assert(n == 3);

        assert(streq(p[0]->name, "home"));
        assert(streq(p[0]->description, "Personal phone for private use"));
        assert(p[0]->memory_mib == 512);
        assert(p[0]->vcpus == 2);
        assert(streq(p[0]->image, "reference"));
        assert(p[0]->disk == DISK_PERSISTENT);
        assert(p[0]->autostart);
        assert(p[0]->on_crash == CRASH_ACTION_RESTART);
        assert(p[0]->crash_test == CRASH_TEST_ALLOW);
        assert(p[0]->vmm == VMM_QEMU);

        assert(streq(p[1]->name, "throwaway"));
        assert(streq(p[1]->description, "Disposable phone that leaves no trace"));
        assert(p[1]->memory_mib == 256);
        assert(p[1]->vcpus == 1);
        assert(streq(p[1]->image, "reference"));
        assert(p[1]->disk == DISK_EPHEMERAL);
        assert(!p[1]->autostart);
        assert(p[1]->on_crash == CRASH_ACTION_KEEP);
        assert(p[1]->crash_bundles == 2);
        assert(p[1]->crash_bundles_mib == PERSONA_CRASH_BUNDLES_MIB_DEFAULT);
        assert(p[1]->vmm == VMM_AUTO);

        assert(streq(p[2]->name, "work"));
        assert(streq(p[2]->description, "Work phone, managed by the employer"));
        assert(p[2]->memory_mib == 512);
        assert(p[2]->vcpus == 2);
        assert(streq(p[2]->image, "reference"));
        assert(p[2]->disk == DISK_PERSISTENT);
        assert(p[2]->autostart);
        assert(p[2]->on_crash == CRASH_ACTION_RESTART);
        assert(p[2]->crash_test == CRASH_TEST_FORCE);
        assert(p[2]->vmm == VMM_QEMU);

        persona_array_free(p, n);
}

/* One file per problem in test-data/personas-bad/; the line numbers are part of the contract. */
static const struct {
        const char *file;
        const char *message; /* after the path */
} bad_files[] = {
        { "alias.yaml", ":3: key 'vcpus': anchors and aliases are not supported ('*cpus')" },
        { "anchor.yaml", ":2: key 'memory_mib': anchors and aliases are not supported ('&mem')" },
        { "anchor-nested.yaml", ":3: key 'vcpus[1]': anchors and aliases are not supported ('&a')" },
        { "autostart-quoted.yaml", ":6: key 'autostart': expected true or false, got a quoted string" },
        { "autostart-yes.yaml", ":6: key 'autostart': expected true or false, got 'yes'" },
        { "on-crash-invalid.yaml", ":6: key 'on_crash': 'reboot' is not one of: keep, restart, destroy" },
        { "crash-bundles-too-many.yaml", ":6: key 'crash_bundles': 65 is out of range (0…64)" },
        { "crash-test-invalid.yaml", ":6: key 'crash_test': 'never' is not one of: allow, force" },
        { "comment-only.yaml", ":1: file is empty" },
        { "description-control.yaml", ":6: key 'description': contains a control character" },
        { "description-long.yaml", ":6: key 'description': is longer than 256 bytes" },
        { "description-mapping.yaml", ":6: key 'description': expected a string, got a mapping" },
        { "description-newline.yaml", ":6: key 'description': contains a control character" },
        { "description-nul.yaml", ":6: key 'description': contains a NUL character" },
        { "disk-invalid.yaml", ":5: key 'disk': 'temporary' is not one of: persistent, ephemeral" },
        { "duplicate-key.yaml", ":6: key 'vcpus': duplicate key (first given on line 3)" },
        { "image-invalid.yaml", ":4: key 'image': '../etc' is not a valid name: starts with '.'" },
        { "image-slash.yaml", ":4: key 'image': 'a/b' is not a valid name: contains '/'" },
        { "invalid-utf8.yaml", ":3: malformed YAML: invalid trailing UTF-8 octet" },
        { "key-not-scalar.yaml", ":3: mapping keys must be scalars, got a sequence" },
        { "key-not-scalar-nested.yaml",
          ":4: key 'description[0]': mapping keys must be scalars, got a sequence" },
        { "malformed.yaml", ":3: malformed YAML: mapping values are not allowed in this context" },
        { "memory-float.yaml", ":2: key 'memory_mib': '512.5' is not a decimal integer" },
        { "memory-hex.yaml",
          ":2: key 'memory_mib': '0x200' is not a decimal integer (hexadecimal, octal and binary are not accepted)" },
        { "memory-negative.yaml", ":3: key 'memory_mib': '-512' is negative" },
        { "memory-octal.yaml", ":2: key 'memory_mib': '0512' has a leading zero (octal is not accepted)" },
        { "memory-overflow.yaml", ":2: key 'memory_mib': '18446744073709551616' is too large" },
        { "memory-quoted.yaml", ":2: key 'memory_mib': expected an integer, got a quoted string" },
        { "memory-too-large.yaml", ":2: key 'memory_mib': 65537 is out of range (64…65536)" },
        { "memory-too-small.yaml", ":2: key 'memory_mib': 32 is out of range (64…65536)" },
        { "memory-unit.yaml", ":2: key 'memory_mib': '1024MiB' is not a decimal integer" },
        { "merge-key.yaml", ":4: key '<<': anchors and aliases are not supported ('*defaults')" },
        { "missing-disk.yaml", ":3: key 'disk': required key is missing" },
        { "missing-image.yaml", ":2: key 'image': required key is missing" },
        { "multiple-documents.yaml", ":6: multiple documents are not supported" },
        { "nesting-too-deep.yaml",
          ":6: key 'description[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
          "[0][0][0]': nesting is deeper than 32 levels" },
        { "tag-local.yaml", ":4: key 'image': tags are not supported ('!image')" },
        { "tag.yaml", ":2: key 'memory_mib': tags are not supported ('!!int')" },
        { "top-level-scalar.yaml", ":2: the top level must be a mapping, got a scalar" },
        { "top-level-sequence.yaml", ":2: the top level must be a mapping, got a sequence" },
        { "unknown-key.yaml",
          ":6: key 'autostrat': unknown key (expected one of: description, memory_mib, vcpus, image, disk, autostart, golden, on_crash, crash_bundles, crash_bundles_mib, crash_test, vmm, color, display)" },
        { "unterminated-quote.yaml",
          ":7: malformed YAML: found unexpected end of stream (while scanning a quoted scalar on line 4)" },
        { "vcpus-mapping.yaml", ":3: key 'vcpus': expected an integer, got a mapping" },
        { "vcpus-no-value.yaml", ":3: key 'vcpus': has no value, expected an integer" },
        { "vcpus-sequence.yaml", ":3: key 'vcpus': expected an integer, got a sequence" },
        { "vcpus-too-many.yaml", ":3: key 'vcpus': 65 is out of range (1…64)" },
        { "vmm-invalid.yaml", ":6: key 'vmm': 'kvmtool' is not one of: qemu, hv, auto" },
        { "color-unquoted.yaml",
          ":6: key 'color': no colour given (quote it, the \"#\" starts a comment: \"#1565c0\")" },
        { "color-name.yaml", ":6: key 'color': 'blue' is not a colour of the form \"#rrggbb\"" },
        { "color-short.yaml", ":6: key 'color': '#12345' is not a colour of the form \"#rrggbb\"" },
        { "display-no-height.yaml",
          ":6: key 'display': '720' is not a screen size: expected WIDTHxHEIGHT (\"720x1280\") or \"none\"" },
        { "display-too-small.yaml",
          ":6: key 'display': screen size '100x200' is out of range: width and height are 160 to 4096 pixels" },
        { "display-unit.yaml",
          ":6: key 'display': '720x1280px' is not a screen size: expected WIDTHxHEIGHT (\"720x1280\") or \"none\"" },
        { "display-leading-zero.yaml",
          ":6: key 'display': '0720x1280' is not a screen size: expected WIDTHxHEIGHT (\"720x1280\") or \"none\"" },
        { "vcpus-zero.yaml", ":3: key 'vcpus': 0 is out of range (1…64)" },
};

static void test_bad_files(void) {
        size_t n_seen = 0;
        DIR *d;

        for (size_t i = 0; i < ELEMENTSOF(bad_files); i++) {
                _cleanup_free_ char *path = NULL;

                assert(asprintf(&path, "%s/%s", bad_dir, bad_files[i].file) >= 0);
                check_bad(path, -EINVAL, bad_files[i].message);
        }

        /* Every fixture has an expectation: a new file without one fails here instead of being skipped. */
        d = opendir(bad_dir);
        assert(d);
        for (struct dirent *de; (de = readdir(d));) {
                bool found = false;

                if (de->d_name[0] == '.')
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(bad_files); i++)
                        found = found || streq(bad_files[i].file, de->d_name);
                if (!found) {
                        fprintf(stderr, "%s/%s has no expected message\n", bad_dir, de->d_name);
                        abort();
                }
                n_seen++;
        }
        closedir(d);
        assert(n_seen == ELEMENTSOF(bad_files));
        assert(n_seen >= 15);
}

static void test_good_variants(const char *tmp) {
        _cleanup_free_ char *path = NULL, *long_description = NULL, *padded = NULL;
        Persona *p = NULL;
        char *error = NULL;

        /* Defaults: description "", autostart false. */
        write_file(tmp, "minimal.yaml", "memory_mib: 64\nvcpus: 1\nimage: reference\ndisk: ephemeral\n");
        assert(asprintf(&path, "%s/minimal.yaml", tmp) >= 0);
        assert(persona_load(path, &p, &error) == 0);
        assert(!error);
        assert(streq(p->name, "minimal"));
        assert(streq(p->description, ""));
        assert(p->memory_mib == PERSONA_MEMORY_MIN_MIB);
        assert(p->vcpus == 1);
        assert(p->disk == DISK_EPHEMERAL);
        assert(!p->autostart);
        /* Crashes: an ephemeral VM is kept as it crashed, a few bundles. */
        assert(p->on_crash == CRASH_ACTION_KEEP);
        assert(p->crash_bundles == PERSONA_CRASH_BUNDLES_DEFAULT);
        assert(p->crash_test == CRASH_TEST_ALLOW);
        assert(p->vmm == VMM_AUTO); /* a throwaway starts fast where it can */
        /* A phone's portrait screen, in a colour of its name. */
        assert(p->display_width == 720 && p->display_height == 1280);
        assert(p->color == persona_default_color("minimal") && p->color <= 0xffffff);
        p = persona_free(p);

        /* A persistent one boots again; every key given. */
        write_file(
                tmp,
                "crashy.yaml",
                "memory_mib: 64\nvcpus: 1\nimage: reference\ndisk: persistent\non_crash: destroy\n"
                "crash_bundles: 0\ncrash_bundles_mib: 1\ncrash_test: force\nvmm: hv\ncolor: \"#A0b1C2\"\n"
                "display: 4096x160\n");
        free(path);
        assert(asprintf(&path, "%s/crashy.yaml", tmp) >= 0);
        assert(persona_load(path, &p, &error) == 0);
        assert(p->on_crash == CRASH_ACTION_DESTROY && p->crash_bundles == 0 && p->crash_bundles_mib == 1 &&
               p->crash_test == CRASH_TEST_FORCE && p->vmm == VMM_HV);
        assert(p->color == 0xa0b1c2 && p->display_width == 4096 && p->display_height == 160);
        p = persona_free(p);
        write_file(tmp, "restart.yaml", "memory_mib: 64\nvcpus: 1\nimage: reference\ndisk: persistent\n");
        free(path);
        assert(asprintf(&path, "%s/restart.yaml", tmp) >= 0);
        assert(persona_load(path, &p, &error) == 0);
        assert(p->on_crash == CRASH_ACTION_RESTART);
        assert(p->vmm == VMM_QEMU); /* someone's phone runs on the full platform */
        p = persona_free(p);
        write_file(
                tmp,
                "headless.yaml",
                "memory_mib: 64\nvcpus: 1\nimage: reference\ndisk: persistent\ndisplay: none\n");
        free(path);
        assert(asprintf(&path, "%s/headless.yaml", tmp) >= 0);
        assert(persona_load(path, &p, &error) == 0);
        assert(p->display_width == 0 && p->display_height == 0);
        p = persona_free(p);

        /* Flow style, explicit document markers, quoted keys and strings, the upper bounds, UTF-8. */
        write_file(
                tmp,
                "flow.yaml",
                "%YAML 1.1\n---\n{\"memory_mib\": 65536, vcpus: 64, image: 'Büro', disk: \"persistent\",\n"
                " description: \"Büro — Arbeit\", autostart: false}\n...\n");
        free(path);
        assert(asprintf(&path, "%s/flow.yaml", tmp) >= 0);
        assert(persona_load(path, &p, &error) == 0);
        assert(p->memory_mib == PERSONA_MEMORY_MAX_MIB);
        assert(p->vcpus == PERSONA_VCPUS_MAX);
        assert(streq(p->image, "Büro"));
        assert(streq(p->description, "Büro — Arbeit"));
        assert(p->disk == DISK_PERSISTENT);
        p = persona_free(p);

        /* A description of exactly PERSONA_DESCRIPTION_MAX bytes is fine. */
        long_description = malloc(PERSONA_DESCRIPTION_MAX + 1);
        assert(long_description);
        memset(long_description, 'd', PERSONA_DESCRIPTION_MAX);
        long_description[PERSONA_DESCRIPTION_MAX] = 0;
        free(path);
        assert(asprintf(
                       &path,
                       "memory_mib: 100\nvcpus: 3\nimage: reference\ndisk: persistent\n"
                       "description: %s\nautostart: true\n",
                       long_description) >= 0);
        write_file(tmp, "long.yaml", path);
        free(path);
        assert(asprintf(&path, "%s/long.yaml", tmp) >= 0);
        assert(persona_load(path, &p, &error) == 0);
        assert(streq(p->description, long_description));
        assert(p->autostart);
        p = persona_free(p);

        /* Exactly 64 KiB (padded with a comment) is still accepted. */
        padded = malloc(64 * 1024 + 1);
        assert(padded);
        {
                const char *body = "memory_mib: 128\nvcpus: 1\nimage: reference\ndisk: ephemeral\n#";
                size_t n = strlen(body);

                memcpy(padded, body, n);
                memset(padded + n, 'x', 64 * 1024 - n - 1);
                padded[64 * 1024 - 1] = '\n';
                padded[64 * 1024] = 0;
        }
        write_file(tmp, "big.yaml", padded);
        free(path);
        assert(asprintf(&path, "%s/big.yaml", tmp) >= 0);
        assert(persona_load(path, &p, &error) == 0);
        assert(p->memory_mib == 128);
        p = persona_free(p);
        assert(!error);
}

static void test_file_errors(const char *tmp) {
        _cleanup_free_ char *path = NULL, *big = NULL;

        write_file(tmp, "empty.yaml", "");
        assert(asprintf(&path, "%s/empty.yaml", tmp) >= 0);
        check_bad(path, -EINVAL, ":1: file is empty");

        /* One byte over 64 KiB. */
        big = malloc(64 * 1024 + 2);
        assert(big);
        memset(big, '#', 64 * 1024 + 1);
        big[64 * 1024 + 1] = 0;
        write_file(tmp, "huge.yaml", big);
        free(path);
        assert(asprintf(&path, "%s/huge.yaml", tmp) >= 0);
        check_bad(path, -EINVAL, ": file is larger than 64 KiB");

        write_file(tmp, "bad,name.yaml", "memory_mib: 128\nvcpus: 1\nimage: reference\ndisk: ephemeral\n");
        free(path);
        assert(asprintf(&path, "%s/bad,name.yaml", tmp) >= 0);
        check_bad(path, -EINVAL, ": persona name 'bad,name' is invalid: contains ','");

        free(path);
        assert(asprintf(&path, "%s/work.yml", tmp) >= 0);
        check_bad(path, -EINVAL, ": persona file name does not end in \".yaml\"");

        free(path);
        assert(asprintf(&path, "%s/missing.yaml", tmp) >= 0);
        check_bad(path, -ENOENT, ": No such file or directory");

        free(path);
        assert(asprintf(&path, "%s/dir.yaml", tmp) >= 0);
        assert(mkdir(path, 0755) == 0);
        check_bad(path, -EISDIR, ": is a directory");
}

static void test_load_dir(const char *tmp) {
        _cleanup_free_ char *dir = NULL, *sub = NULL, *error = NULL, *expected = NULL;
        Persona **p = NULL;
        size_t n = 99;

        assert(asprintf(&dir, "%s/dir", tmp) >= 0);
        assert(mkdir(dir, 0755) == 0);

        /* An empty directory is no error. */
        assert(persona_load_dir(dir, &p, &n, &error) == 0);
        assert(n == 0);
        persona_array_free(p, n);

        write_file(dir, "b.yaml", "memory_mib: 200\nvcpus: 2\nimage: reference\ndisk: persistent\n");
        write_file(dir, "a.yaml", "memory_mib: 100\nvcpus: 1\nimage: reference\ndisk: ephemeral\n");
        write_file(dir, ".hidden.yaml", "this is not: [valid");
        write_file(dir, "README", "not a persona");
        write_file(dir, "notes.yaml~", "not a persona");
        assert(asprintf(&sub, "%s/sub.yaml", dir) >= 0);
        assert(mkdir(sub, 0755) == 0); /* not a regular file: skipped */
        free(sub);
        assert(asprintf(&sub, "%s/c.yaml", dir) >= 0);
        assert(symlink("a.yaml", sub) == 0); /* followed */

        assert(persona_load_dir(dir, &p, &n, &error) == 0);
        assert(!error);
        assert(n == 3);
        assert(streq(p[0]->name, "a") && p[0]->memory_mib == 100);
        assert(streq(p[1]->name, "b") && p[1]->memory_mib == 200);
        assert(streq(p[2]->name, "c") && p[2]->memory_mib == 100);
        persona_array_free(p, n);

        /* One bad file fails the whole load, with its own message. */
        write_file(dir, "bb.yaml", "memory_mib: 100\nvcpus: 1\nimage: reference\ndisk: ephemeral\nram: 1\n");
        p = NULL;
        n = 99;
        assert(persona_load_dir(dir, &p, &n, &error) == -EINVAL);
        assert(!p && n == 99);
        assert(asprintf(
                       &expected,
                       "%s/bb.yaml:5: key 'ram': unknown key (expected one of: description, memory_mib, vcpus, "
                       "image, disk, autostart, golden, on_crash, crash_bundles, crash_bundles_mib, "
                       "crash_test, vmm, color, display)",
                       dir) >= 0);
        assert(streq(error, expected));

        free(error);
        error = NULL;
        free(expected);
        assert(asprintf(&expected, "%s/nonexistent: No such file or directory", tmp) >= 0);
        free(dir);
        assert(asprintf(&dir, "%s/nonexistent", tmp) >= 0);
        assert(persona_load_dir(dir, &p, &n, &error) == -ENOENT);
        assert(streq(error, expected));
}

int main(int argc, char *argv[]) {
        char tmp[] = "/tmp/test-persona-XXXXXX";

        if (argc != 3) {
                fprintf(stderr, "Usage: %s POLICIES/PERSONAS TEST-DATA/PERSONAS-BAD\n", argv[0]);
                return EXIT_FAILURE;
        }
        personas_dir = argv[1];
        bad_dir = argv[2];
        assert(mkdtemp(tmp));

        test_disk_mode_table();
        test_shipped();
        test_bad_files();
        test_good_variants(tmp);
        test_file_errors(tmp);
        test_load_dir(tmp);

        assert(rm_rf(tmp) == 0);
        return 0;
}
