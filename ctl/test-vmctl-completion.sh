#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmctl's bash completion: commands, options per command, and VM, persona, snapshot and crash bundle names taken
# from the first column of "vmctl [--user] list|personas|golden|crashes --no-legend" and
# "vmctl [--user] snapshots --no-legend VM".
# Usage: test-vmctl-completion.sh PATH-TO-VMCTL PATH-TO-COMPLETION-SCRIPT
set -eu

VMCTL=$1
COMPLETION=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The completion runs the vmctl being completed (COMP_WORDS[0]). Without vmmd that lists nothing, so for
# the name cases COMP_WORDS[0] is a stand-in that prints what vmctl prints and records its arguments.
cat >"$tmp/vmctl-standin" <<STANDIN
#!/bin/bash
echo "\$*" >>"$tmp/calls"
case "\$*" in
        *crashes*) printf 't1-20261129-093505 t1   2026-11-29 09:35:05 61.8M yes Kernel panic - not syncing: sysrq triggered crash\nwork-20261130-080000 work 2026-11-30 08:00:00 1.2G  no  Kernel panic - not syncing: Oops\n' ;;
        *snapshots*) printf 'before-update 2024-11-26 10:00:00 60.0M\nclean         2024-11-20 09:00:00 disk only\n' ;;
        *list*) printf 'work     work      running kvm 2G   4\nhome     home      stopped kvm 1G   2\nthrowaway-3fa9c1 throwaway running tcg 512M 1\n' ;;
        *personas*) printf 'work     The work phone\nhome     Personal\nthrowaway Vanishes\n' ;;
        *golden*) printf 'kiosk     building 40%% -                reference -                   booting\nthrowaway ready        0123456789abcdef reference 2024-11-26 10:00:00 -\n' ;;
esac
STANDIN
chmod +x "$tmp/vmctl-standin"

source "$COMPLETION"
failures=0

# complete CMD WORD...: completes the last WORD; the result, sorted and space-separated, in $got.
complete_words() {
        local cmd=$1
        shift
        COMP_WORDS=("$cmd" "$@")
        COMP_CWORD=$#
        COMPREPLY=()
        _vmctl || true  # completion functions run in interactive shells, without set -e
        got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
}
check() {
        local want=$1
        shift
        complete_words "$@"
        if [[ $got != "$want" ]]; then
                echo "FAIL: completing '$*': got '$got', expected '$want'" >&2
                failures=$((failures + 1))
        fi
}

check "list" "$VMCTL" li
check "pause personas" "$VMCTL" p
check "wait" "$VMCTL" w
check "set-memory show snapshot snapshots start stop switch" "$VMCTL" --user s
check "golden guest" "$VMCTL" g
check "set-memory" "$VMCTL" se
check "snapshot snapshots" "$VMCTL" snap
check "reboot reload restore resume" "$VMCTL" r
check "debug delete-snapshot destroy display" "$VMCTL" d
check "crash crash-test crashes create" "$VMCTL" cr
check "crash crash-test crashes" "$VMCTL" cras
check "--no-ask-password --no-legend --no-wait" "$VMCTL" restore --no
check "--force" "$VMCTL" stop --f
check "--no-ask-password --no-legend --no-start --no-wait" "$VMCTL" create --no
check "--memory" "$VMCTL" create --m
check "--cold" "$VMCTL" create --co
check "" "$VMCTL" start --co
check "" "$VMCTL" golden rebuild --co
check "--no-ask-password --no-legend --no-wait" "$VMCTL" start --no
check "" "$VMCTL" create --memory ""
check "" "$VMCTL" --timeout ""
check "show" "$VMCTL" help sh
check "delete-snapshot" "$VMCTL" help del
check "set-memory" "$VMCTL" help set
check "golden" "$VMCTL" help go
check "rebuild" "$VMCTL" help golden ""
check "" "$VMCTL" help golden rebuild ""
check "crash crash-test crashes" "$VMCTL" help cras
check "delete gdb keep show unkeep" "$VMCTL" help crash ""
check "" "$VMCTL" help crash show ""

# Without vmmd, the real vmctl lists no names: nothing to offer, and no error on the terminal.
check "" "$VMCTL" --user start ""

# Names from the first column, with --user passed on.
rm -f "$tmp/calls"
check "home throwaway-3fa9c1 work" "$tmp/vmctl-standin" --user start ""
grep -qx -- "--user list --no-legend" "$tmp/calls" || { echo "FAIL: vmctl called as: $(cat "$tmp/calls")" >&2; failures=$((failures + 1)); }
rm -f "$tmp/calls"
check "throwaway-3fa9c1" "$tmp/vmctl-standin" destroy work t
grep -qx -- "list --no-legend" "$tmp/calls" || { echo "FAIL: vmctl called as: $(cat "$tmp/calls")" >&2; failures=$((failures + 1)); }
check "" "$tmp/vmctl-standin" start work ""
check "home throwaway-3fa9c1 work" "$tmp/vmctl-standin" --timeout 10 show --json ""
check "home throwaway work" "$tmp/vmctl-standin" create ""
check "" "$tmp/vmctl-standin" create work ""
check "" "$tmp/vmctl-standin" list ""
check "home throwaway-3fa9c1 work" "$tmp/vmctl-standin" wait ""
check "removed running" "$tmp/vmctl-standin" wait work r
check "" "$tmp/vmctl-standin" wait work running ""
# set-memory: a VM name, then a number of MiB: nothing to offer.
check "home throwaway-3fa9c1 work" "$tmp/vmctl-standin" set-memory ""
check "work" "$tmp/vmctl-standin" --user set-memory --no-wait w
check "" "$tmp/vmctl-standin" set-memory work ""
check "" "$tmp/vmctl-standin" set-memory work 256 ""
check "--no-ask-password --no-legend --no-wait" "$VMCTL" set-memory work --no

# memtest: a VM name, then an action.
check "home throwaway-3fa9c1 work" "$tmp/vmctl-standin" memtest ""
check "check fill free poke" "$tmp/vmctl-standin" memtest work ""

# guest: a VM name, then one of the items ReadGuest knows.
check "home throwaway-3fa9c1 work" "$tmp/vmctl-standin" guest ""
check "boot-id clock hostname input machine-id random" "$tmp/vmctl-standin" guest work ""
check "machine-id" "$tmp/vmctl-standin" --user guest work m
check "" "$tmp/vmctl-standin" guest work clock ""

# golden: the sub-command, then (rebuild) the personas that use golden snapshots, with --user passed on.
check "rebuild" "$tmp/vmctl-standin" golden ""
check "rebuild" "$tmp/vmctl-standin" golden --no-wait r
rm -f "$tmp/calls"
check "kiosk throwaway" "$tmp/vmctl-standin" --user golden rebuild ""
grep -qx -- "--user golden --no-legend" "$tmp/calls" || { echo "FAIL: vmctl called as: $(cat "$tmp/calls")" >&2; failures=$((failures + 1)); }
check "throwaway" "$tmp/vmctl-standin" golden rebuild --timeout 600 t
check "" "$tmp/vmctl-standin" golden rebuild throwaway ""
check "" "$tmp/vmctl-standin" golden throwaway ""
# Without vmmd, the real vmctl lists no personas.
check "" "$VMCTL" --user golden rebuild ""

# Snapshots: VM names first, then the snapshots of that VM, with --user passed on.
for verb in snapshot snapshots restore delete-snapshot; do
        check "home throwaway-3fa9c1 work" "$tmp/vmctl-standin" "$verb" ""
done
check "" "$tmp/vmctl-standin" snapshot work ""   # a new snapshot's name: nothing to offer
check "" "$tmp/vmctl-standin" snapshots work ""
rm -f "$tmp/calls"
check "before-update clean" "$tmp/vmctl-standin" --user restore work ""
grep -qx -- "--user snapshots --no-legend work" "$tmp/calls" || { echo "FAIL: vmctl called as: $(cat "$tmp/calls")" >&2; failures=$((failures + 1)); }
check "before-update" "$tmp/vmctl-standin" restore --no-wait work b
check "" "$tmp/vmctl-standin" restore work clean ""
check "before-update clean" "$tmp/vmctl-standin" delete-snapshot work ""
check "clean" "$tmp/vmctl-standin" delete-snapshot work before-update c
# Without vmmd, the real vmctl lists no snapshots either.
check "" "$VMCTL" --user restore work ""

# Crash bundles: VM names for crashes, crash-test and debug; the sub-commands of crash, then bundle IDs from the
# first column of "vmctl crashes", with --user passed on.
for verb in crashes crash-test debug; do
        check "home throwaway-3fa9c1 work" "$tmp/vmctl-standin" "$verb" ""
        check "" "$tmp/vmctl-standin" "$verb" work ""
done
check "delete gdb keep show unkeep" "$tmp/vmctl-standin" crash ""
check "show" "$tmp/vmctl-standin" --user crash s
check "" "$tmp/vmctl-standin" crash frob ""
rm -f "$tmp/calls"
check "t1-20261129-093505 work-20261130-080000" "$tmp/vmctl-standin" --user crash show ""
grep -qx -- "--user crashes --no-legend" "$tmp/calls" || { echo "FAIL: vmctl called as: $(cat "$tmp/calls")" >&2; failures=$((failures + 1)); }
check "work-20261130-080000" "$tmp/vmctl-standin" crash gdb w
check "" "$tmp/vmctl-standin" crash show t1-20261129-093505 ""
check "" "$tmp/vmctl-standin" crash gdb t1-20261129-093505 ""
for verb in keep unkeep delete; do
        check "t1-20261129-093505 work-20261130-080000" "$tmp/vmctl-standin" crash "$verb" ""
        check "work-20261130-080000" "$tmp/vmctl-standin" crash "$verb" t1-20261129-093505 w
done
# After "--", the words are gdb's.
check "" "$tmp/vmctl-standin" crash gdb t1-20261129-093505 -- ""
check "" "$tmp/vmctl-standin" crash gdb t1-20261129-093505 -- -b
check "" "$tmp/vmctl-standin" debug work -- ""
# Options: crash show's --console, crash-test's --force, debug's --stdio.
check "--console" "$VMCTL" crash show --c
check "" "$VMCTL" crash gdb --c
check "--force" "$VMCTL" crash-test --f
check "" "$VMCTL" crashes --f
check "--stdio --system" "$VMCTL" debug --s
check "--system" "$VMCTL" crash-test --s
# Without vmmd, the real vmctl lists no bundles.
check "" "$VMCTL" --user crash show ""

if [[ $failures -gt 0 ]]; then
        echo "$failures check(s) failed" >&2
        exit 1
fi
echo "all checks passed"
