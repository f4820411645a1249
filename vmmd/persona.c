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

uint32_t persona_default_color(const char *name) {
        /* Darker shades (white text reads on each) of well-told-apart hues; FNV-1a of the name picks one. */
        static const uint32_t palette[] = {
                0x1565c0, 0x2e7d32, 0xc62828, 0x6a1b9a, 0xef6c00, 0x00838f,
                0xad1457, 0x4e342e, 0x283593, 0x558b2f, 0x00695c, 0x37474f,
        };
        uint32_t h = 2166136261U;

        for (const char *p = name; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619U;
        return palette[h % ELEMENTSOF(palette)];
}

static int parse_color(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        char buf[YAML_QUOTE_MAX];
        const char *s;
        int r;

        /* "#" starts a YAML comment: an unquoted colour is no value at all. */
        if (yaml_node_is_null(v))
                return yaml_error(
                        c,
                        v->line,
                        -EINVAL,
                        "no colour given (quote it, the \"#\" starts a comment: \"#1565c0\")");
        r = yaml_node_get_scalar(c, v, "a colour", &s);
        if (r < 0)
                return r;
        if (strlen(s) != 7 || s[0] != '#' || strspn(s + 1, "0123456789abcdefABCDEF") != 6)
                return yaml_error(
                        c, v->line, -EINVAL, "'%s' is not a colour of the form \"#rrggbb\"", yaml_quote(s, buf));
        *FIELD_PTR(uint32_t, data, f) = (uint32_t) strtoul(s + 1, NULL, 16);
        return 0;
}

/* "WIDTHxHEIGHT" in pixels, or "none". */
static int parse_display(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        Persona *p = data;
        char buf[YAML_QUOTE_MAX], *end;
        unsigned long w, h;
        const char *s;
        int r;

        r = yaml_node_get_scalar(c, v, "a screen size", &s);
        if (r < 0)
                return r;
        if (streq(s, "none")) {
                p->display_width = p->display_height = 0;
                return 0;
        }
        errno = 0;
        w = s[0] >= '1' && s[0] <= '9' ? strtoul(s, &end, 10) : 0;
        if (w == 0 || errno != 0 || *end != 'x' || !(end[1] >= '1' && end[1] <= '9'))
                goto bad;
        h = strtoul(end + 1, &end, 10);
        if (errno != 0 || *end)
                goto bad;
        if (w < PERSONA_DISPLAY_MIN || w > PERSONA_DISPLAY_MAX || h < PERSONA_DISPLAY_MIN ||
            h > PERSONA_DISPLAY_MAX)
                return yaml_error(
                        c,
                        v->line,
                        -EINVAL,
                        "screen size '%s' is out of range: width and height are %u to %u pixels",
                        yaml_quote(s, buf),
                        PERSONA_DISPLAY_MIN,
                        PERSONA_DISPLAY_MAX);
        p->display_width = (uint32_t) w;
        p->display_height = (uint32_t) h;
        return 0;
bad:
        return yaml_error(
                c,
                v->line,
                -EINVAL,
                "'%s' is not a screen size: expected WIDTHxHEIGHT (\"720x1280\") or \"none\"",
                yaml_quote(s, buf));
}

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
        { "color", parse_color, offsetof(Persona, color) },
        { "display", parse_display, 0 },
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
        p->color = persona_default_color(p->name);
        p->display_width = PERSONA_DISPLAY_WIDTH_DEFAULT;
        p->display_height = PERSONA_DISPLAY_HEIGHT_DEFAULT;

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
