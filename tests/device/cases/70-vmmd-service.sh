#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmmd.service started at boot as a Type=notify system service that owns org.vmmd1 on the
# system bus, and nobody changes what it may not;
# systemctl reload reads the personas again.
set -eu
systemctl is-active --quiet vmmd.service
[ "$(systemctl show -P Type vmmd.service)" = notify ]
[ "$(systemctl show -P BusName vmmd.service)" = org.vmmd1 ]
status="$(systemctl show -P StatusText vmmd.service)"
echo "status: $status"
[[ "$status" == *VMs* ]]
# The name's owner is vmmd's main process.
pid="$(systemctl show -P MainPID vmmd.service)"
owner="$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        GetConnectionUnixProcessID s org.vmmd1)"
echo "owner: $owner, MainPID: $pid"
[ "$owner" = "u $pid" ]
test -f /usr/share/dbus-1/system.d/org.vmmd1.conf
# The unit's exposure, as systemd-analyze sees it: at most 2.0.
score="$(systemd-analyze security vmmd.service 2>/dev/null | sed -n 's/.*Overall exposure level for vmmd.service: \([0-9.]*\).*/\1/p')"
echo "systemd-analyze security vmmd.service: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
test -f /usr/share/dbus-1/interfaces/org.vmmd1.Manager.xml
# Once it probed the host, the daemon keeps only KILL, SETGID and SETUID (to run each VMM as the VM's own
# uid, and to act on a VM's files as the VM).
grep '^Cap' "/proc/$pid/status"
grep -q '^CapEff:[[:space:]]*00000000000000e0$' "/proc/$pid/status"
grep -q '^CapBnd:[[:space:]]*00000000000000e0$' "/proc/$pid/status"

# Authorization (case 96 has the whole of it): an ordinary user reads, creates no work phone and may not
# reload.
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_nobody busctl --system call org.vmmd1 /org/vmmd1 org.vmmd1.Manager ListPersonas | grep -q throwaway
if out="$(as_nobody busctl --system call org.vmmd1 /org/vmmd1 org.vmmd1.Manager CreateVM 'ssa{sv}' \
        work '' 0 2>&1)"; then
        echo "nobody could create a work phone: $out"
        exit 1
fi
echo "nobody's CreateVM: $out"
[[ "$out" == *"org.vmmd1.create"* ]]
if as_nobody busctl --system call org.vmmd1 /org/vmmd1 org.vmmd1.Manager Reload >/dev/null 2>&1; then
        echo "nobody could reload the personas"
        exit 1
fi

# systemctl reload: ExecReload calls Reload() and returns once the personas are read again; the daemon
# is the same process.
since="$(date '+%Y-%m-%d %H:%M:%S')"
systemctl reload vmmd.service
[ "$(systemctl show -P MainPID vmmd.service)" = "$pid" ]
journalctl --no-pager -u vmmd.service --since "$since" -o cat | grep -q "Loaded .* personas"
vmctl personas | grep -q '^throwaway '
# ... and leaves the directories as the VMMs need them: systemd sets the modes of StateDirectory= and
# RuntimeDirectory= again for ExecReload.
for d in /var/lib/vmmd /run/vmmd; do
        stat -c '%n %U:%G %a' "$d" "$d/vms"
        [ "$(stat -c '%U:%G %a' "$d")" = "root:root 711" ]
        [ "$(stat -c '%U:%G %a' "$d/vms")" = "root:root 711" ]
done
