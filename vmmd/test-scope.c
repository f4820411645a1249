/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scope unit names: the VM name escaped exactly as systemd-escape does it (checked against it when it is
 * installed, and against its known output always). */
#include <assert.h>
#include <stdio.h>

#include "scope.h"
#include "util.h"

static void check(const char *vm, const char *expected) {
        _cleanup_free_ char *unit = scope_unit_name(vm);

        if (!unit || !streq(unit, expected)) {
                fprintf(stderr, "%s: got %s, expected %s\n", vm, strna(unit), expected);
                abort();
        }
}

/* The same name through the real systemd-escape, if there is one. */
static void check_tool(const char *vm) {
        _cleanup_free_ char *cmd = NULL, *unit = scope_unit_name(vm);
        char out[1024] = "vmm-";
        FILE *f;

        if (access("/usr/bin/systemd-escape", X_OK) < 0)
                return;
        assert(asprintf(&cmd, "/usr/bin/systemd-escape -- '%s'", vm) >= 0);
        f = popen(cmd, "re");
        assert(f);
        assert(fgets(out + 4, sizeof(out) - 4 - strlen(".scope"), f));
        assert(pclose(f) == 0);
        out[strcspn(out, "\n")] = '\0';
        strcat(out, ".scope");
        if (!streq(unit, out)) {
                fprintf(stderr, "%s: got %s, systemd-escape gives %s\n", vm, unit, out);
                abort();
        }
}

int main(void) {
        static const char *const names[] = { "work", "throwaway-3fa9c1", "Büro", "a:b_c.d", "x@y", "a..b",
                                             "v~1" };

        check("work", "vmm-work.scope");
        check("throwaway-3fa9c1", "vmm-throwaway\\x2d3fa9c1.scope");
        check("Büro", "vmm-B\\xc3\\xbcro.scope");
        check("a:b_c.d", "vmm-a:b_c.d.scope");
        check("x@y", "vmm-x\\x40y.scope");
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                check_tool(names[i]);
        return 0;
}
