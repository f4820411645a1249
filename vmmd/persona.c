/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Persona templates: loading and validating policies/personas/<name>.yaml. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "names.h"
#include "persona.h"
#include "yaml-util.h"

/* A directory of personas is written by an administrator; more than this is a mistake. */
#define PERSONA_DIR_MAX 256U

static const char *const disk_mode_table[_DISK_MODE_MAX] = {
        [DISK_PERSISTENT] = "persistent",
        [DISK_EPHEMERAL] = "ephemeral",
};

DEFINE_STRING_TABLE_LOOKUP(disk_mode, DiskMode, _DISK_MODE_MAX);

static const char *const crash_action_table[_CRASH_ACTION_MAX] = {
        [CRASH_ACTION_KEEP] = "keep",
        [CRASH_ACTION_RESTART] = "restart",
        [CRASH_ACTION_DESTROY] = "destroy",
};

DEFINE_STRING_TABLE_LOOKUP(crash_action, CrashAction, _CRASH_ACTION_MAX);

static const char *const crash_test_table[_CRASH_TEST_MAX] = {
        [CRASH_TEST_ALLOW] = "allow",
        [CRASH_TEST_FORCE] = "force",
};

DEFINE_STRING_TABLE_LOOKUP(crash_test, CrashTest, _CRASH_TEST_MAX);

static const char *const vmm_kind_table[_VMM_KIND_MAX] = {
        [VMM_QEMU] = "qemu",
        [VMM_HV] = "hv",
        [VMM_AUTO] = "auto",
};

DEFINE_STRING_TABLE_LOOKUP(vmm_kind, VmmKind, _VMM_KIND_MAX);

/* clang-format off */
static const YamlField persona_fields[] = {
        { "description", yaml_parse_string, offsetof(Persona, description), .max = PERSONA_DESCRIPTION_MAX },
        { "memory_mib", yaml_parse_uint64, offsetof(Persona, memory_mib), true,
          PERSONA_MEMORY_MIN_MIB, PERSONA_MEMORY_MAX_MIB },
        { "vcpus", yaml_parse_uint32, offsetof(Persona, vcpus), true, PERSONA_VCPUS_MIN, PERSONA_VCPUS_MAX },
        { "image", yaml_parse_name, offsetof(Persona, image), true },
        { "disk", yaml_parse_enum, offsetof(Persona, disk), true, .max = _DISK_MODE_MAX,
          .userdata = disk_mode_table },
        { "autostart", yaml_parse_bool, offsetof(Persona, autostart) },
        { "golden", yaml_parse_bool, offsetof(Persona, golden) },
        { "on_crash", yaml_parse_enum, offsetof(Persona, on_crash), .max = _CRASH_ACTION_MAX,
          .userdata = crash_action_table },
        { "crash_bundles", yaml_parse_uint32, offsetof(Persona, crash_bundles), false, 0,
          PERSONA_CRASH_BUNDLES_MAX },
        { "crash_bundles_mib", yaml_parse_uint64, offsetof(Persona, crash_bundles_mib), false, 1,
          PERSONA_MEMORY_MAX_MIB * PERSONA_CRASH_BUNDLES_MAX },
        { "crash_test", yaml_parse_enum, offsetof(Persona, crash_test), .max = _CRASH_TEST_MAX,
          .userdata = crash_test_table },
        { "vmm", yaml_parse_enum, offsetof(Persona, vmm), .max = _VMM_KIND_MAX, .userdata = vmm_kind_table },
        {}
};
/* clang-format on */

Persona *persona_free(Persona *p) {
        if (!p)
                return NULL;
        free(p->name);
        free(p->description);
        free(p->image);
        free(p);
        return NULL;
}

void persona_array_free(Persona **p, size_t n) {
        for (size_t i = 0; i < n; i++)
                persona_free(p[i]);
        free(p);
}

static int persona_name_from_path(const char *path, char **ret, char **ret_error) {
        YamlContext c = { .path = path, .ret_error = ret_error };
        const char *base = strrchr(path, '/');
        char buf[YAML_QUOTE_MAX];
        _cleanup_free_ char *name = NULL;
        const char *reason;
        size_t n;

        base = base ? base + 1 : path;
        n = strlen(base);
        if (n < strlen(".yaml") || !streq(base + n - strlen(".yaml"), ".yaml"))
                return yaml_error(&c, 0, -EINVAL, "persona file name does not end in \".yaml\"");

        name = strndup(base, n - strlen(".yaml"));
        if (!name)
                return -ENOMEM;
        reason = vm_name_invalid_reason(name);
        if (reason)
                return yaml_error(
                        &c, 0, -EINVAL, "persona name '%s' is invalid: %s", yaml_quote(name, buf), reason);
        *ret = TAKE_PTR(name);
        return 0;
}

int persona_load(const char *path, Persona **ret, char **ret_error) {
        _cleanup_(yaml_tree_freep) YamlNode *root = NULL;
        _cleanup_(persona_freep) Persona *p = NULL;
        _cleanup_free_ char *name = NULL;
        int r;

        assert(path);
        assert(ret);

        /* The name comes first: a file that could never be addressed is wrong whatever it contains. */
        r = persona_name_from_path(path, &name, ret_error);
        if (r < 0)
                return r;

        r = yaml_tree_load(path, &root, ret_error);
        if (r < 0)
                return r;

        p = calloc(1, sizeof(Persona));
        if (!p)
                return -ENOMEM;
        p->name = TAKE_PTR(name);
        p->description = strdup("");
        if (!p->description)
                return -ENOMEM;
        p->disk = _DISK_MODE_INVALID;
        p->on_crash = _CRASH_ACTION_INVALID;
        p->vmm = _VMM_KIND_INVALID;
        p->crash_bundles = PERSONA_CRASH_BUNDLES_DEFAULT;
        p->crash_bundles_mib = PERSONA_CRASH_BUNDLES_MIB_DEFAULT;

        r = yaml_parse_mapping(path, NULL, root, persona_fields, p, ret_error);
        if (r < 0)
                return r;
        /* A clone's disk is an overlay on the golden one: it must go with the VM, and the golden with it. */
        if (p->golden && p->disk != DISK_EPHEMERAL) {
                YamlContext c = { .path = path, .key = "golden", .ret_error = ret_error };
                return yaml_error(
                        &c,
                        yaml_tree_mapping_get(root, "golden")->line,
                        -EINVAL,
                        "golden snapshots are for personas with \"disk: ephemeral\" only");
        }

        if (p->on_crash < 0)
                p->on_crash = p->disk == DISK_EPHEMERAL ? CRASH_ACTION_KEEP : CRASH_ACTION_RESTART;
        /* A phone that is someone's to keep runs on the full platform (disk snapshots, crash dumps, a
         * debugger) unless its persona says otherwise; a throwaway wants the fast start. */
        if (p->vmm < 0)
                p->vmm = p->disk == DISK_EPHEMERAL ? VMM_AUTO : VMM_QEMU;

        *ret = TAKE_PTR(p);
        return 0;
}

static int cmp_string(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int persona_list_dir(const char *dir, char ***ret, char **ret_error) {
        YamlContext c = { .path = dir, .ret_error = ret_error };
        _cleanup_strv_free_ char **files = NULL;
        size_t n_files;
        DIR *d;
        int r = 0;

        assert(dir);
        assert(ret);

        d = opendir(dir);
        if (!d)
                return yaml_error(&c, 0, -errno, "%s", strerror(errno));
        for (;;) {
                struct dirent *de;
                struct stat st;
                size_t len;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = yaml_error(&c, 0, -errno, "%s", strerror(errno));
                        break;
                }
                len = strlen(de->d_name);
                if (de->d_name[0] == '.' || len <= strlen(".yaml") ||
                    !streq(de->d_name + len - strlen(".yaml"), ".yaml"))
                        continue;
                /* Symlinks are followed (an administrator may link a shipped persona); what they point
                 * to must be a regular file. */
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
                        r = yaml_error(&c, 0, -errno, "%s: %s", de->d_name, strerror(errno));
                        break;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                if (strv_length(files) >= PERSONA_DIR_MAX) {
                        r = yaml_error(&c, 0, -E2BIG, "more than %u persona files", PERSONA_DIR_MAX);
                        break;
                }
                r = strv_extendf(&files, "%s/%s", dir, de->d_name);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;

        n_files = strv_length(files);
        if (n_files > 0)
                qsort(files, n_files, sizeof(char *), cmp_string);
        else {
                files = calloc(1, sizeof(char *));
                if (!files)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(files);
        return 0;
}

int persona_load_dir(const char *dir, Persona ***ret, size_t *ret_n, char **ret_error) {
        _cleanup_strv_free_ char **files = NULL;
        Persona **list = NULL;
        size_t n = 0;
        int r;

        assert(ret);
        assert(ret_n);

        r = persona_list_dir(dir, &files, ret_error);
        if (r < 0)
                return r;
        list = calloc(strv_length(files) + 1, sizeof(Persona *));
        if (!list)
                return -ENOMEM;
        STRV_FOREACH(f, files) {
                r = persona_load(*f, &list[n], ret_error);
                if (r < 0) {
                        persona_array_free(list, n);
                        return r;
                }
                n++;
        }

        *ret = list;
        *ret_n = n;
        return 0;
}
