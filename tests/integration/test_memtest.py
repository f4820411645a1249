#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM.MemTest: the guest agent fills guest memory with a pattern and checks every byte of it (MEMTEST,
images/agent/PROTOCOL.md), which the reclaim-integrity test builds on: a check finds every unit that differs,
and only those. A real QEMU guest under TCG."""

from vmmdtest import check, check_eq, run

VM_IFACE = "org.vmmd1.VM"


def memtest(s, action, mib=0, value=0):
    ok, out = s.gdbus(s.vm_path("m1"), VM_IFACE, "MemTest", action, f"uint64 {mib}", f"uint64 {value}")
    return ok, out


def test_memtest(s):
    s.vmctl_ok("create", "throwaway", "--cold", "m1")
    check_eq(memtest(s, "check"), (True, "(uint64 0, uint64 0, @at [])"), "nothing filled yet")
    check_eq(memtest(s, "fill", 64, 0x1234), (True, "(uint64 16384, uint64 0, @at [])"), "64 MiB filled")
    check_eq(memtest(s, "check"), (True, "(uint64 16384, uint64 0, @at [])"), "every byte where it was")
    # One byte flipped in two units: the check names exactly those.
    check(memtest(s, "poke", 0, 5)[0] and memtest(s, "poke", 0, 1000)[0], "poke")
    check_eq(memtest(s, "check"), (True, "(uint64 16384, uint64 2, [uint64 5, 1000])"), "two bad units")
    # Written anew with another seed (the guest writing while the host reclaims): intact again.
    check_eq(memtest(s, "fill", 64, 0xfedcba), (True, "(uint64 16384, uint64 0, @at [])"), "filled again")
    check_eq(memtest(s, "check"), (True, "(uint64 16384, uint64 0, @at [])"), "intact again")
    # vmctl memtest: the same, and a check that finds a difference ends with exit status 1.
    p = s.vmctl("memtest", "m1", "poke", "3")
    check_eq(p.returncode, 0, f"vmctl memtest poke: {p.stderr}")
    p = s.vmctl("memtest", "m1", "check")
    check_eq((p.returncode, p.stdout), (1, "units=16384 bad=1 first=3\n"), "vmctl memtest check")
    check_eq(s.vmctl_json("memtest", "m1", "fill", "64", "7"), {"vm": "m1", "units": 16384, "bad": 0, "first_bad": []},
             "vmctl --json memtest fill")
    check(memtest(s, "free")[0], "free")
    check_eq(memtest(s, "check"), (True, "(uint64 0, uint64 0, @at [])"), "freed")

    # Bad requests: named, and the VM goes on.
    for args, error, text in ((("nope",), "InvalidArgument", "expected fill, check, free or poke"),
                              (("fill", 0, 1), "InvalidArgument", "1 to 256 MiB"),
                              (("fill", 257, 1), "InvalidArgument", "1 to 256 MiB"),
                              (("fill", 250, 1), "Failed", "only"),
                              (("poke", 0, 7), "Failed", "no unit 7")):
        ok, out = memtest(s, *args)
        check(not ok and f"org.vmmd1.Error.{error}" in out and text in out, f"MemTest{args}: {out}")
    check_eq(s.vm_state("m1"), "running", "the VM after bad requests")
    s.vmctl_ok("destroy", "m1")


if __name__ == "__main__":
    raise SystemExit(run([test_memtest]))
