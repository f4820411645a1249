/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes persona_load() with the input as the contents of a persona file. */
#include "fuzz.h"
#include "persona.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char *path = NULL;
        _cleanup_(persona_freep) Persona *p = NULL;
        _cleanup_free_ char *error = NULL;
        Persona *sentinel = (Persona *) &path; /* any non-NULL address, never dereferenced */
        int r;

        if (!path)
                fuzz_check(asprintf(&path, "%s/fuzz.yaml", fuzz_scratch_dir()) >= 0);
        fuzz_check(fuzz_write_file(path, data, size) >= 0);

        p = sentinel;
        r = persona_load(path, &p, &error);
        if (r < 0) {
                fuzz_check(p == sentinel, "ret written on failure");
                p = NULL;
                /* The file exists and is readable: whatever fails is its content. */
                fuzz_check(r == -EINVAL, "error %d (%s)", r, strna(error));
                fuzz_check(error, "no message for error %d", r);
                /* "<path>:<line>: ..." or "<path>: ..." */
                fuzz_check(
                        strncmp(error, path, strlen(path)) == 0 && error[strlen(path)] == ':',
                        "message does not start with the file's path: %s",
                        error);
                fuzz_check(strlen(error) > strlen(path) + 2);
                fuzz_check_text("message", error);
                return 0;
        }

        fuzz_check(r == 0);
        fuzz_check(p && p != sentinel);
        fuzz_check(!error, "message on success: %s", error);
        fuzz_check(streq_ptr(p->name, "fuzz"));
        fuzz_check(
                p->memory_mib >= PERSONA_MEMORY_MIN_MIB && p->memory_mib <= PERSONA_MEMORY_MAX_MIB,
                "memory_mib %" PRIu64,
                p->memory_mib);
        fuzz_check(p->vcpus >= PERSONA_VCPUS_MIN && p->vcpus <= PERSONA_VCPUS_MAX, "vcpus %" PRIu32, p->vcpus);
        fuzz_check(p->image && vm_name_is_valid(p->image), "image \"%s\"", strna(p->image));
        fuzz_check(disk_mode_to_string(p->disk), "disk %d", (int) p->disk);
        fuzz_check(disk_mode_from_string(disk_mode_to_string(p->disk)) == p->disk);
        fuzz_check(p->description && strlen(p->description) <= PERSONA_DESCRIPTION_MAX);
        fuzz_check_text("description", p->description);
        return 0;
}
