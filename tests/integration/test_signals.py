#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The signal contract launcher UIs rely on, checked by an sd-bus client (signal-order.c)."""

import os
import subprocess
import sys

from vmmdtest import BUILD_ROOT, check_eq, run

CLIENT = os.path.join(BUILD_ROOT, "tests/integration/signal-order")


def test_signals_carry_values_in_order(s):
    p = subprocess.run([CLIENT], env=s.env, capture_output=True, text=True, timeout=300)
    for line in (p.stdout + p.stderr).splitlines():
        print("# " + line)
    check_eq(p.returncode, 0, "signal-order exit status")


if __name__ == "__main__":
    sys.exit(run([test_signals_carry_values_in_order]))
