#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The live D-Bus interfaces match the installed introspection XML (units/org.vmmd1.*.xml)."""

import os
import sys
import xml.etree.ElementTree as ET

from vmmdtest import SOURCE_ROOT, check, check_eq, run


def members(iface):
    """(kind, name, args, annotations that matter) for every member of an <interface> element."""
    out = set()
    for m in iface:
        if m.tag not in ("method", "signal", "property"):
            continue
        if m.tag == "property":
            out.add(("property", m.get("name"), m.get("type"), m.get("access")))
        else:
            args = tuple((a.get("name"), a.get("type"), a.get("direction", "out" if m.tag == "signal" else "in"))
                         for a in m.findall("arg"))
            out.add((m.tag, m.get("name"), args, None))
    return out


def live_interface(s, path, name):
    p = s.busctl("introspect", "--xml-interface", "org.vmmd1", path)
    check_eq(p.returncode, 0, f"introspect {path}: {p.stderr}")
    for iface in ET.fromstring(p.stdout).findall("interface"):
        if iface.get("name") == name:
            return iface
    raise AssertionError(f"{path} has no interface {name}")


def shipped_interface(name):
    root = ET.parse(os.path.join(SOURCE_ROOT, "units", name + ".xml")).getroot()
    ifaces = root.findall("interface")
    check_eq([i.get("name") for i in ifaces], [name], f"{name}.xml describes exactly its interface")
    return ifaces[0]


def test_manager_and_vm_match_the_xml(s):
    p = s.busctl("introspect", "org.vmmd1", "/org/vmmd1")
    check_eq(p.returncode, 0, f"busctl introspect: {p.stderr}")
    check("org.vmmd1.Manager" in p.stdout and ".CreateVM" in p.stdout, "busctl introspect shows the Manager")

    check_eq(members(live_interface(s, "/org/vmmd1", "org.vmmd1.Manager")),
             members(shipped_interface("org.vmmd1.Manager")), "Manager members")

    s.vmctl_ok("create", "--no-start", "work", "probe")
    check_eq(members(live_interface(s, s.vm_path("probe"), "org.vmmd1.VM")),
             members(shipped_interface("org.vmmd1.VM")), "VM members")

    # The object manager on /org/vmmd1 lists the VM.
    p = s.busctl("call", "org.vmmd1", "/org/vmmd1", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
    check_eq(p.returncode, 0, f"GetManagedObjects: {p.stderr}")
    check("/org/vmmd1/vm/probe" in p.stdout, "GetManagedObjects includes the VM")


if __name__ == "__main__":
    sys.exit(run([test_manager_and_vm_match_the_xml]))
