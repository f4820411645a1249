#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmctl's bash completion: commands, options per command, and VM and persona names taken from the first
# column of "vmctl [--user] list|personas --no-legend".
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
        *list*) printf 'work     work      running kvm 2G   4\nhome     home      stopped kvm 1G   2\nthrowaway-3fa9c1 throwaway running tcg 512M 1\n' ;;
        *personas*) printf 'work     The work phone\nhome     Personal\nthrowaway Vanishes\n' ;;
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
check "show start stop switch" "$VMCTL" --user s
check "--force" "$VMCTL" stop --f
check "--no-legend --no-start --no-wait" "$VMCTL" create --no
check "--memory" "$VMCTL" create --m
check "--no-legend --no-wait" "$VMCTL" start --no
check "" "$VMCTL" create --memory ""
check "" "$VMCTL" --timeout ""
check "show" "$VMCTL" help sh

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

if [[ $failures -gt 0 ]]; then
        echo "$failures check(s) failed" >&2
        exit 1
fi
echo "all checks passed"
