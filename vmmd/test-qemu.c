/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VMM argv golden files: QEMU's one per persona and accelerator (test-data/qemu-argv/<persona>-<accel>.args),
 * vmm-hv's one per persona for a boot and one for a clone (<persona>-hv.args, <persona>-hv-clone.args). */
#include <assert.h>

#include "persona.h"
#include "qemu.h"

static const char *golden_dir;
static bool update;

static char *join_lines(char **argv) {
        char *s = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&s, &n);

        assert(f);
        STRV_FOREACH(a, argv)
                fprintf(f, "%s\n", *a);
        fclose(f);
        return s;
}

static int check_golden(const char *name, char **argv) {
        _cleanup_free_ char *path = NULL, *want = NULL, *got = join_lines(argv);

        assert(asprintf(&path, "%s/%s.args", golden_dir, name) >= 0);
        if (update) {
                assert(write_file_atomic(path, got) >= 0);
                return 0;
        }
        if (read_full_file(path, &want, NULL) < 0) {
                fprintf(stderr, "%s: missing (run with UPDATE_GOLDEN=1 to create it)\n", path);
                return 1;
        }
        if (!streq(want, got)) {
                fprintf(stderr, "%s differs:\n--- want\n%s--- got\n%s", path, want, got);
                return 1;
        }
        return 0;
}

static int test_persona_hv(const Persona *p) {
        _cleanup_strv_free_ char **boot = NULL, **clone = NULL;
        _cleanup_free_ char *name = NULL, *clone_name = NULL;
        VmmConfig c = {
                .binary = "/usr/libexec/vmm-hv",
                .name = p->name,
                .accel = "kvm",
                .memory_mib = p->memory_mib,
                .vcpus = p->vcpus,
                .kernel = "/usr/share/vmmd/images/reference/vmlinuz",
                .initrd = "/usr/share/vmmd/images/reference/initrd.img",
                .cmdline = "console=ttyAMA0 quiet panic=-1",
                .disk_path = p->disk == DISK_PERSISTENT ? "/var/lib/vmmd/vms/work/disk.img" :
                                                          "/run/vmmd/vms/throwaway-1/disk.img",
        };

        assert(vmm_build_argv(VMM_HV, &c, &boot) >= 0);
        c.incoming = true;
        c.disk_backing = "/var/cache/vmmd/golden/throwaway/0123456789abcdef-01234567/disk.img";
        assert(vmm_build_argv(VMM_HV, &c, &clone) >= 0);
        assert(asprintf(&name, "%s-hv", p->name) >= 0);
        assert(asprintf(&clone_name, "%s-hv-clone", p->name) >= 0);
        return check_golden(name, boot) + check_golden(clone_name, clone);
}

/* What vmm-hv cannot do is refused, not turned into a command line. */
static void test_hv_refuses(void) {
        _cleanup_strv_free_ char **argv = NULL;
        VmmConfig c = {
                .binary = "vmm-hv",
                .name = "n",
                .accel = "kvm",
                .memory_mib = 64,
                .vcpus = 1,
                .kernel = "/k",
                .initrd = "/i",
        };

        assert(vmm_build_argv(VMM_HV, &c, &argv) >= 0);
        STRV_FOREACH(a, argv) /* the guest's console never goes to a file */
                assert(strncmp(*a, "--console-fd=", 13) != 0 || streq(*a, "--console-fd=none"));
        strv_free(TAKE_PTR(argv));
        c.accel = "tcg"; /* KVM only */
        assert(vmm_build_argv(VMM_HV, &c, &argv) == -EINVAL);
        c.accel = "kvm";
        c.loadvm = "snap"; /* no qcow2 */
        assert(vmm_build_argv(VMM_HV, &c, &argv) == -EINVAL);
        c.loadvm = NULL;
        c.disk_backing = "/b"; /* an overlay needs its file */
        assert(vmm_build_argv(VMM_HV, &c, &argv) == -EINVAL);
        assert(vmm_build_argv(VMM_QEMU, &c, &argv) == -EINVAL); /* and QEMU has none of vmm-hv's */
        c.disk_backing = NULL;
        c.display_width = c.display_height = 720; /* no screen */
        assert(vmm_build_argv(VMM_HV, &c, &argv) == -EINVAL);
        c.display_width = c.display_height = 0;
        c.kernel = NULL; /* a boot needs its kernel, a clone not */
        assert(vmm_build_argv(VMM_HV, &c, &argv) == -EINVAL);
        c.incoming = true;
        assert(vmm_build_argv(VMM_HV, &c, &argv) >= 0);
        assert(vmm_build_argv(VMM_AUTO, &c, &argv) == -EINVAL);
        assert(streq(vmm_display_name(VMM_HV), "vmm-hv") && streq(vmm_log_name(VMM_QEMU), "qemu.log"));
}

static int test_persona(const Persona *p, const char *accel) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *name = NULL;
        VmmConfig c = {
                .binary = "qemu-system-aarch64",
                .name = p->name,
                .accel = accel,
                .memory_mib = p->memory_mib,
                .vcpus = p->vcpus,
                .kernel = "/usr/share/vmmd/images/reference/vmlinuz",
                .initrd = "/usr/share/vmmd/images/reference/initrd.img",
                .cmdline = "console=ttyAMA0 quiet panic=-1",
                .disk_path = p->disk == DISK_PERSISTENT ? "/var/lib/vmmd/vms/work/disk.qcow2" :
                                                          "/run/vmmd/vms/throwaway-1/disk.qcow2",
                .sandbox = true,
                .display_width = p->display_width,
                .display_height = p->display_height,
        };

        assert(qemu_build_argv(&c, &argv) >= 0);
        assert(asprintf(&name, "%s-%s", p->name, accel) >= 0);
        return check_golden(name, argv);
}

static void test_escaping(void) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *e = qemu_escape_option("a,b,,c");
        VmmConfig c = {
                .binary = "qemu",
                .name = "n",
                .accel = "tcg",
                .memory_mib = 64,
                .vcpus = 1,
                .kernel = "/k",
                .initrd = "/i",
                .disk_path = "/x,y/disk.qcow2",
        };
        bool disk = false;

        assert(streq(e, "a,,b,,,,c"));
        assert(qemu_build_argv(&c, &argv) >= 0);
        STRV_FOREACH(a, argv) /* no screen asked for: no VNC server, no GPU */
                assert(!streq(*a, "-vnc") && !strstr(*a, "virtio-gpu"));
        STRV_FOREACH(a, argv) {
                disk = disk || strstr(*a, "file.filename=/x,,y/disk.qcow2");
                /* Without -append when there is no command line. */
                assert(!streq(*a, "-append"));
        }
        assert(disk);
        STRV_FOREACH(a, argv)
                assert(!streq(*a, "-loadvm"));
        strv_free(TAKE_PTR(argv));

        /* Starting from a snapshot: its name is one argument of its own, whatever it holds. */
        c.loadvm = "before update";
        assert(qemu_build_argv(&c, &argv) >= 0);
        assert(streq_ptr(argv[strv_length(argv) - 2], "-loadvm"));
        assert(streq_ptr(argv[strv_length(argv) - 1], "before update"));
        strv_free(TAKE_PTR(argv));
        c.disk_path = NULL;
        assert(qemu_build_argv(&c, &argv) == -EINVAL);
        c.loadvm = NULL;
        c.disk_path = "/x,y/disk.qcow2";

        /* A clone starts from the stream at its fd; a golden build's stream carries no run state. */
        c.incoming = true;
        assert(qemu_build_argv(&c, &argv) >= 0);
        assert(streq_ptr(argv[strv_length(argv) - 2], "-incoming"));
        assert(streq_ptr(argv[strv_length(argv) - 1], "fd:5"));
        STRV_FOREACH(a, argv)
                assert(!streq(*a, "-kernel") && !streq(*a, "-initrd")); /* its RAM holds them */
        strv_free(TAKE_PTR(argv));
        c.loadvm = "x";
        assert(qemu_build_argv(&c, &argv) == -EINVAL); /* one state to start from, not two */
        c.loadvm = NULL;
        c.incoming = false;
        c.golden_build = true;
        assert(qemu_build_argv(&c, &argv) >= 0);
        assert(streq_ptr(argv[strv_length(argv) - 1], "migration.store-global-state=off"));
        strv_free(TAKE_PTR(argv));
        c.golden_build = false;

        /* Nonsense configurations are refused, not turned into a command line. */
        c.accel = "hvf";
        assert(qemu_build_argv(&c, &argv) == -EINVAL);
        c.accel = "kvm";
        c.vcpus = 0;
        assert(qemu_build_argv(&c, &argv) == -EINVAL);
        assert(streq(qemu_cpu_model("kvm"), "host"));
}

int main(int argc, char *argv[]) {
        Persona **personas = NULL;
        size_t n = 0;
        int failed = 0;

        assert(argc == 3);
        golden_dir = argv[2];
        update = getenv("UPDATE_GOLDEN");
        assert(persona_load_dir(argv[1], &personas, &n, NULL) >= 0);
        assert(n >= 3);
        for (size_t i = 0; i < n; i++) {
                failed += test_persona(personas[i], "tcg");
                failed += test_persona(personas[i], "kvm");
                failed += test_persona_hv(personas[i]);
        }
        persona_array_free(personas, n);
        test_escaping();
        test_hv_refuses();
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
