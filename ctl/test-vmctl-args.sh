#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmctl without vmmd: help, usage errors, name checks before any bus is contacted, and a private
# dbus-daemon without vmmd on it.
# Usage: test-vmctl-args.sh PATH-TO-VMCTL   ($DBUS_DAEMON: the dbus-daemon to use; empty skips that part)
set -eu

VMCTL=$1
DBUS_DAEMON=${DBUS_DAEMON-$(command -v dbus-daemon || true)}

tmp=$(mktemp -d)
bus_pid=
cleanup() {
        if [[ -n $bus_pid ]]; then kill "$bus_pid" 2>/dev/null || true; fi
        rm -rf "$tmp"
}
trap cleanup EXIT

# Hermetic: our own runtime directory; no session or system bus unless a case sets one up.
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 0700 "$XDG_RUNTIME_DIR"
export DBUS_SESSION_BUS_ADDRESS=unix:path=$tmp/no-session-bus
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/no-system-bus
export LC_ALL=C
unset JOURNAL_STREAM

failures=0
fail() {
        echo "FAIL: $*" >&2
        echo "  exit status: $status" >&2
        sed 's/^/  stdout: /' "$tmp/out" >&2
        sed 's/^/  stderr: /' "$tmp/err" >&2
        failures=$((failures + 1))
}

# expect STATUS ARGS...: runs vmctl ARGS, checks its exit status; output in $tmp/out and $tmp/err.
expect() {
        local want=$1
        shift
        status=0
        "$VMCTL" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || status=$?
        if [[ $status -ne $want ]]; then
                fail "vmctl $* exited with $status, expected $want"
                return 1
        fi
        return 0
}
stdout_has() { grep -qF -- "$1" "$tmp/out" || fail "stdout lacks '$1'"; }
stderr_has() { grep -qF -- "$1" "$tmp/err" || fail "stderr lacks '$1'"; }
stderr_lacks() { ! grep -qF -- "$1" "$tmp/err" || fail "stderr has '$1'"; }
stderr_one_line() {
        [[ $(wc -l <"$tmp/err") -eq 1 ]] || fail "stderr is not one line"
        grep -q '^vmctl: ' "$tmp/err" || fail "stderr does not start with 'vmctl: '"
}

VERBS='list show create start stop pause resume reboot destroy wait switch set-memory guest memtest snapshot snapshots
restore delete-snapshot golden crashes crash crash-test debug display personas reload host help'
CRASH_VERBS='show gdb keep unkeep delete'

# A stand-in gdb-multiarch, so that the cases after the search for it do not depend on the host; and a $PATH
# without any.
mkdir "$tmp/bin" "$tmp/nogdb"
printf '#!/bin/sh\necho "stand-in gdb: $*"\n' >"$tmp/bin/gdb-multiarch"
chmod +x "$tmp/bin/gdb-multiarch"
export PATH=$tmp/bin:$PATH

# --help names every command, every global option and every exit status.
if expect 0 --help; then
        for verb in $VERBS; do
                grep -qE "^  $verb( |$)" "$tmp/out" || fail "--help does not list '$verb'"
        done
        grep -qE "^  golden rebuild PERSONA " "$tmp/out" || fail "--help does not list 'golden rebuild'"
        for verb in $CRASH_VERBS; do
                grep -qE "^  crash $verb ID" "$tmp/out" || fail "--help does not list 'crash $verb'"
        done
        for opt in --user --json --no-legend --no-wait --no-ask-password --timeout --version --memory --vcpus --no-start --force \
                   --cold --console --stdio; do
                stdout_has "$opt"
        done
        for code in 0 1 2 3 4 5 6 7 8 9 10; do
                grep -qE "^ +$code  " "$tmp/out" || fail "--help does not explain exit status $code"
        done
        [[ ! -s $tmp/err ]] || fail "--help wrote to stderr"
fi
expect 0 -h && stdout_has "Commands:"
expect 0 help && stdout_has "Commands:"

expect 0 --version && { grep -qE '^vmctl [0-9]' "$tmp/out" || fail "--version does not print the version"; }

# Each command's help: its usage line, its exit statuses; the same with "help VERB" and before the verb.
for verb in $VERBS; do
        expect 0 "$verb" --help || continue
        grep -q "^vmctl \[OPTIONS...\] $verb" "$tmp/out" || fail "$verb --help has no usage line"
        stdout_has "Exit status:"
        stdout_has "--timeout"
        cp "$tmp/out" "$tmp/help-$verb"
        expect 0 help "$verb" && { cmp -s "$tmp/out" "$tmp/help-$verb" || fail "help $verb differs from $verb --help"; }
        expect 0 --help "$verb" && { cmp -s "$tmp/out" "$tmp/help-$verb" || fail "--help $verb differs"; }
done
# A command of two words, the same way.
if expect 0 golden rebuild --help; then
        grep -q "^vmctl \[OPTIONS...\] golden rebuild PERSONA$" "$tmp/out" || fail "golden rebuild --help has no usage line"
        cp "$tmp/out" "$tmp/help-golden-rebuild"
        expect 0 help golden rebuild && { cmp -s "$tmp/out" "$tmp/help-golden-rebuild" || fail "help golden rebuild differs"; }
        expect 0 --help golden rebuild && { cmp -s "$tmp/out" "$tmp/help-golden-rebuild" || fail "--help golden rebuild differs"; }
        for code in 2 3 4 5 6 7; do
                grep -qE "^ +$code  " "$tmp/help-golden-rebuild" || fail "golden rebuild --help lacks exit status $code"
        done
        grep -qF "building golden snapshot of throwaway: booting (20%)" "$tmp/help-golden-rebuild" ||
                fail "golden rebuild --help does not show a progress line"
fi
# The crash commands, the same way.
for verb in $CRASH_VERBS; do
        expect 0 crash "$verb" --help || continue
        grep -q "^vmctl \[OPTIONS...\] crash $verb ID" "$tmp/out" || fail "crash $verb --help has no usage line"
        stdout_has "Exit status:"
        grep -qE '^ +3  ' "$tmp/out" || fail "crash $verb --help lacks exit status 3 (no such bundle)"
        grep -qE '^ +5  ' "$tmp/out" && fail "crash $verb --help claims exit status 5"
        cp "$tmp/out" "$tmp/help-crash-$verb"
        expect 0 help crash "$verb" && { cmp -s "$tmp/out" "$tmp/help-crash-$verb" || fail "help crash $verb differs"; }
        expect 0 --help crash "$verb" && { cmp -s "$tmp/out" "$tmp/help-crash-$verb" || fail "--help crash $verb differs"; }
        grep -qF "crash $verb" "$tmp/help-crash" || fail "crash --help does not name crash $verb"
done
for key in id vm persona time_usec size_bytes message kept; do
        grep -qw -- "$key" "$tmp/help-crashes" || fail "crashes --help does not name the JSON key $key"
done
for key in backtrace core_error capture_usec console kernel_offset; do
        grep -qw -- "$key" "$tmp/help-crash-show" || fail "crash show --help does not name the JSON key $key"
done
grep -qF -- --console "$tmp/help-crash-show" || fail "crash show --help lacks --console"
for word in gdb-multiarch "set architecture aarch64" "symbol-file /proc/self/fd/S" "core-file /proc/self/fd/C" \
            "thread N" "-- -batch -ex bt"; do
        grep -qF -- "$word" "$tmp/help-crash-gdb" || fail "crash gdb --help does not show '$word'"
done
grep -qE '^ +4  ' "$tmp/help-crash-gdb" || fail "crash gdb --help lacks exit status 4 (no memory dump)"
for word in gdb-multiarch "target remote | vmctl [--user] debug --stdio NAME" --stdio OpenDebugger; do
        grep -qF -- "$word" "$tmp/help-debug" || fail "debug --help does not show '$word'"
done
for code in 3 4 5 6 7 10; do
        grep -qE "^ +$code  " "$tmp/help-crash-test" || fail "crash-test --help lacks exit status $code"
done
grep -qF -- --force "$tmp/help-crash-test" && grep -qF "crash_test: force" "$tmp/help-crash-test" &&
        grep -qF "crash_bundles: 0" "$tmp/help-crash-test" || fail "crash-test --help does not explain force and no bundle"
grep -qF "End the VMM at once" "$tmp/help-crash-test" && fail "crash-test --help explains stop's --force"
grep -qF "End the VMM at once" "$tmp/help-stop" || fail "stop --help lost its --force"
cmp -s "$tmp/help-golden" "$tmp/help-golden-rebuild" && fail "golden --help shows the help of golden rebuild"
grep -qF "golden rebuild" "$tmp/help-golden" || fail "golden --help does not point to golden rebuild"
grep -qE '^ +5  ' "$tmp/help-golden" && fail "golden --help claims exit status 5"
for key in persona id state progress message image created_usec; do
        grep -qw -- "$key" "$tmp/help-golden" || fail "golden --help does not name the JSON key $key"
done
for item in hostname machine-id clock random boot-id; do
        grep -qF -- "$item" "$tmp/help-guest" || fail "guest --help does not name the item $item"
done
grep -qE '^ +4  ' "$tmp/help-guest" || fail "guest --help lacks exit status 4 (not running)"
grep -qF -- --memory "$tmp/help-create" && grep -qF -- --vcpus "$tmp/help-create" &&
        grep -qF -- --no-start "$tmp/help-create" && grep -qF -- --cold "$tmp/help-create" ||
        fail "create --help lacks its options"
grep -qF -- --force "$tmp/help-stop" || fail "stop --help lacks --force"
grep -qF -- --force "$tmp/help-start" && fail "start --help offers --force"
for verb in create start resume restore; do
        grep -qF '"running"' "$tmp/help-$verb" || fail "$verb --help does not say it waits for running"
done
for verb in snapshot snapshots restore delete-snapshot; do
        grep -qF "snapshot" <(sed 1d "$tmp/help-$verb") || fail "$verb --help does not explain snapshots"
        grep -qE '^ +3  ' "$tmp/help-$verb" || fail "$verb --help lacks exit status 3"
done
grep -qF -- --json "$tmp/help-snapshot" && grep -qF "disk only" "$tmp/help-snapshots" ||
        fail "snapshot(s) --help lacks --json or \"disk only\""
grep -qE '^ +5  ' "$tmp/help-restore" || fail "restore --help lacks exit status 5"
grep -qE '^ +5  ' "$tmp/help-snapshots" && fail "snapshots --help claims exit status 5"
grep -qF '"stopped"' "$tmp/help-stop" || fail "stop --help does not say it waits for stopped"
grep -qF '"removed"' "$tmp/help-wait" || fail "wait --help does not explain removed"
grep -qE '^ +5  ' "$tmp/help-start" || fail "start --help lacks exit status 5"
grep -qE '^ +6  ' "$tmp/help-start" || fail "start --help lacks exit status 6"
grep -qE '^ +5  ' "$tmp/help-list" && fail "list --help claims exit status 5"
grep -qF "MemoryActualMiB" "$tmp/help-set-memory" && grep -qF -- "--timeout ends" "$tmp/help-set-memory" ||
        fail "set-memory --help does not say what it waits for and what ends the wait"
for code in 2 3 4 5 6 7; do
        grep -qE "^ +$code  " "$tmp/help-set-memory" || fail "set-memory --help lacks exit status $code"
done

# Usage errors: exit status 2, one line on stderr.
expect 2 frobnicate && { stderr_has "Unknown command 'frobnicate'"; stderr_one_line; }
expect 2 help frobnicate && stderr_has "Unknown command 'frobnicate'"
expect 2 help golden frobnicate && { stderr_has "Unknown command 'golden frobnicate'"; stderr_one_line; }
expect 2 --user golden frobnicate && { stderr_has "Unknown command 'golden frobnicate'"; stderr_one_line; }
expect 2 --user golden throwaway && stderr_has "Unknown command 'golden throwaway'. See 'vmctl golden --help'."
expect 2 --user crash && { stderr_has "crash: missing command: show, gdb, keep, unkeep or delete."; stderr_one_line; }
expect 2 --user crash frob && { stderr_has "Unknown command 'crash frob'. See 'vmctl crash --help'."; stderr_one_line; }
expect 2 help crash frob && stderr_has "Unknown command 'crash frob'"
expect 2 --frobnicate list
for args in "start" "stop" "pause" "resume" "show" "switch" "destroy" "create" "snapshot" "snapshots" \
            "restore" "delete-snapshot" "restore work" "delete-snapshot work" "set-memory" "set-memory work" \
            "guest" "guest work" "golden rebuild" "crash show" "crash gdb" "crash keep" "crash unkeep" "crash delete" \
            "crash-test" "debug" "debug --stdio" "display"; do
        expect 2 $args && { stderr_has "missing argument"; stderr_has "Usage: vmctl"; stderr_one_line; }
done
expect 2 wait work && stderr_has "missing argument"
expect 2 restore work && stderr_has "Usage: vmctl [OPTIONS...] restore NAME SNAPSHOT"
expect 2 --user delete-snapshot work && stderr_has "Usage: vmctl [OPTIONS...] delete-snapshot NAME SNAPSHOT..."
expect 2 --user set-memory work && stderr_has "Usage: vmctl [OPTIONS...] set-memory NAME MIB"
expect 2 --user wait work runing && { stderr_has 'Unknown state "runing"'; stderr_one_line; }
expect 2 --user golden rebuild && stderr_has "Usage: vmctl [OPTIONS...] golden rebuild PERSONA"
expect 2 --user guest work && stderr_has "Usage: vmctl [OPTIONS...] guest NAME ITEM"
expect 2 --user crash delete && stderr_has "Usage: vmctl [OPTIONS...] crash delete ID..."
expect 2 --user crash gdb && stderr_has "Usage: vmctl [OPTIONS...] crash gdb ID [-- GDB-ARGS...]"
expect 2 --user memtest work && stderr_has "Usage: vmctl [OPTIONS...] memtest NAME fill MIB [SEED] | check | free | poke UNIT"
# MemTest's actions and numbers are checked before any bus is contacted.
expect 2 --user memtest work flil && { stderr_has 'Unknown action "flil": expected fill, check, free or poke.'; stderr_one_line; }
expect 2 --user memtest work fill && { stderr_has "memtest fill takes MIB and an optional SEED."; stderr_one_line; }
expect 2 --user memtest work check 1 && { stderr_has "memtest check takes no more arguments."; stderr_one_line; }
expect 2 --user memtest work poke && { stderr_has "memtest poke takes one UNIT."; stderr_one_line; }
expect 2 --user memtest work fill 0 && { stderr_has "Invalid size '0': expected a positive number of MiB"; stderr_one_line; }
expect 2 --user memtest work fill 64 1x && { stderr_has "Invalid seed '1x': expected a decimal number"; stderr_one_line; }
expect 2 --user memtest work poke x && { stderr_has "Invalid unit 'x': expected a decimal number"; stderr_one_line; }
# ReadGuest's items are checked before any bus is contacted.
for bad in hostnam HOSTNAME "" "clock " uptime; do
        expect 2 --user guest work "$bad" && {
                stderr_has "Unknown item \"$bad\": expected hostname, machine-id, clock, random, boot-id or input."
                stderr_one_line
        }
done
for args in "start a b" "show a b" "wait a running b" "create work a b" "list x" "personas x" "reload x" "host x" \
            "snapshot work a b" "snapshots work a" "restore work a b" "set-memory work 256 a" \
            "golden rebuild throwaway a" "guest work clock a" "crashes work a" "crash show a b" "crash-test work a"; do
        expect 2 $args && { stderr_has "too many arguments"; stderr_one_line; }
done
# gdb's arguments only after "--"; and none for the relay.
expect 2 --user crash gdb a b &&
        { stderr_has "crash gdb: too many arguments (gdb's go after '--'). Usage: vmctl [OPTIONS...] crash gdb ID [-- GDB-ARGS...]"; stderr_one_line; }
expect 2 --user debug work bt && { stderr_has "debug: too many arguments (gdb's go after '--')"; stderr_one_line; }
expect 2 --user debug --stdio work -- x && { stderr_has "debug --stdio: too many arguments."; stderr_one_line; }
expect 2 restore --force work a && stderr_has "Option --force does not apply to 'restore'"
expect 2 start --force work && stderr_has "Option --force does not apply to 'start'"
expect 2 stop --no-start work && stderr_has "Option --no-start does not apply to 'stop'"
expect 2 list --memory 512 && stderr_has "does not apply"
expect 2 start --cold work && stderr_has "Option --cold does not apply to 'start'"
expect 2 golden rebuild --cold throwaway && stderr_has "Option --cold does not apply to 'golden rebuild'"
expect 2 golden --cold && stderr_has "Option --cold does not apply to 'golden'"
expect 2 guest --force work clock && stderr_has "Option --force does not apply to 'guest'"
expect 2 crash show --force x && stderr_has "Option --force does not apply to 'crash show'"
expect 2 crash show --stdio x && stderr_has "Option --stdio does not apply to 'crash show'"
expect 2 stop --console work && stderr_has "Option --console does not apply to 'stop'"
expect 2 crash-test --console work && stderr_has "Option --console does not apply to 'crash-test'"
expect 2 debug --force work && stderr_has "Option --force does not apply to 'debug'"
expect 2 crash gdb --console x && stderr_has "Option --console does not apply to 'crash gdb'"
for bad in abc 0 -1 1.5 "" 12x 99999999999999999999999; do
        expect 2 create work --memory "$bad" && stderr_has "Invalid --memory"
done
for bad in 0 -1 4294967296 x; do
        expect 2 create work --vcpus "$bad" && stderr_has "Invalid --vcpus"
done
# set-memory's MIB is parsed as --memory is, before any bus is contacted (no session bus: that would be 7).
for bad in 0 abc 1.5 "" 12x +5 " 5" 99999999999999999999999; do
        expect 2 --user set-memory work "$bad" &&
                { stderr_has "Invalid memory \"$bad\": expected a positive number of MiB."; stderr_one_line; }
done
expect 2 --user set-memory work -5   # getopt takes it for an option; after "--" it is MIB
expect 2 --user set-memory work -- -5 && { stderr_has 'Invalid memory "-5"'; stderr_one_line; }
expect 2 set-memory work 256 --memory 256 && stderr_has "Option --memory MIB does not apply to 'set-memory'"
for bad in -1 abc 1e400 "" inf nan; do
        expect 2 start work --timeout "$bad" && stderr_has "Invalid --timeout"
done

# Bad VM names are refused before any bus is contacted: with the session bus pointing nowhere, a
# connection attempt would end with 7, not 2.
expect 2 --user start 'a/b' && { stderr_has "contains '/'"; stderr_one_line; stderr_lacks "bus"; }
expect 2 start --user 'a/b' && stderr_has "VM name \"a/b\" contains '/'"   # global option after the verb
expect 2 --user create work 'a b' && stderr_has "contains a space, quote or backslash"
expect 2 --user create work '' && stderr_has "is empty"
expect 2 --user create '' && stderr_has "Persona name is empty"
expect 2 --user create --cold '' && stderr_has "Persona name is empty"
expect 2 --user golden rebuild '' && { stderr_has "Persona name is empty"; stderr_one_line; }
expect 2 --user guest 'a/b' clock && { stderr_has "VM name \"a/b\" contains '/'"; stderr_one_line; }
expect 2 --user guest .hidden hostname && stderr_has "starts with '.'"
expect 2 --user destroy good -- -bad && stderr_has "starts with '-'"
expect 2 --user show .hidden && stderr_has "starts with '.'"
expect 2 --user switch "$(printf 'a\tb')" && stderr_has "contains a control character"
expect 2 --user stop "$(printf '%065d' 0)" && stderr_has "is longer than 64 bytes"
expect 2 --user resume "$(printf 'a\xff')" && stderr_has "is not valid UTF-8"
for verb in snapshot snapshots; do
        expect 2 --user $verb 'a/b' && { stderr_has "VM name \"a/b\" contains '/'"; stderr_one_line; }
done
expect 2 --user restore 'a/b' s && stderr_has "VM name \"a/b\" contains '/'"
expect 2 --user set-memory 'a/b' 256 && { stderr_has "VM name \"a/b\" contains '/'"; stderr_one_line; }
expect 2 --user snapshot work 'x/y' && { stderr_has "Snapshot name \"x/y\" contains '/'"; stderr_one_line; }
expect 2 --user snapshot work '' && stderr_has "Snapshot name \"\" is empty"
expect 2 --user restore work .hidden && stderr_has "Snapshot name \".hidden\" starts with '.'"
# Every name is checked before any snapshot is deleted, and before any bus is contacted.
expect 2 --user delete-snapshot work good 'b c' && { stderr_has "contains a space"; stderr_lacks "bus"; }
for verb in crashes crash-test debug "debug --stdio" display; do
        expect 2 --user $verb 'a/b' && { stderr_has "VM name \"a/b\" contains '/'"; stderr_one_line; }
done
# Crash bundle IDs: printable, no '/', at most 127 bytes; checked before any bus is contacted.
for verb in "crash show" "crash gdb" "crash keep" "crash unkeep" "crash delete"; do
        expect 2 --user $verb 'a/b' && { stderr_has "Crash bundle ID \"a/b\" contains '/'."; stderr_one_line; }
done
expect 2 --user crash show '' && stderr_has 'Crash bundle ID "" is empty.'
expect 2 --user crash show "$(printf '%0128d' 0)" && stderr_has "is longer than 127 bytes"
expect 2 --user crash show "$(printf 'a\033[2Jb')" &&
        { stderr_has 'Crash bundle ID "a\x1b[2Jb" contains a control character.'; stderr_one_line; }
expect 2 --user crash keep "$(printf 'a\xff')" && stderr_has "is not valid UTF-8"
expect 2 --user crash delete good-1 'b/c' && { stderr_has "\"b/c\" contains '/'"; stderr_lacks "bus"; }
# Long, unusual, but possible: vmmd answers for those.
expect 7 --user crash show "$(printf '%0127d' 0)" && stderr_has "Failed to connect to the user bus"
expect 7 --user crash show 'work-20241126-100000 (copy)' && stderr_has "Failed to connect to the user bus"

# gdb-multiarch is looked for before any bus is contacted.
for args in "crash gdb work-20241126-100000" "debug work" "crash gdb x -- -batch -ex bt"; do
        PATH=$tmp/nogdb expect 1 --user $args &&
                { stderr_has "gdb-multiarch is not in \$PATH: install the Debian package gdb-multiarch."; stderr_one_line; }
done

# No bus at all: 7, and it says which bus.
expect 7 --user list && { stderr_has "Failed to connect to the user bus"; stderr_one_line; }
expect 7 list && stderr_has "Failed to connect to the system bus"
expect 7 --user start work && stderr_has "Failed to connect to the user bus"
for args in "snapshot work" "snapshot work s1" "snapshots work" "restore work s1" "delete-snapshot work s1 s2" \
            "set-memory work 256" "set-memory --no-wait work 256" "golden" "golden rebuild throwaway" \
            "golden rebuild --no-wait throwaway" "guest work clock" "create --cold throwaway" "crashes" \
            "crashes work" "crash show x" "crash show --console x" "crash gdb x" "crash gdb x -- -batch" \
            "crash keep x y" "crash unkeep x" "crash delete x y" "crash-test work" "crash-test --force work" \
            "crash-test --no-wait work" "debug work" "debug work -- -batch" "debug --stdio work" "display work"; do
        expect 7 --user $args && { stderr_has "Failed to connect to the user bus"; stderr_one_line; }
done
# --force means either verb's.
expect 7 --user stop --force work && stderr_has "Failed to connect to the user bus"
if expect 7 --user list --user --json; then [[ ! -s $tmp/out ]] || fail "--json printed something on failure"; fi

# A private bus without vmmd: 7, "vmmd is not running". Our own configuration: no service directories,
# so no vmmd can be activated.
if [[ -n $DBUS_DAEMON ]]; then
        cat >"$tmp/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
        # --fork returns once the bus listens; address and pid are written by then.
        "$DBUS_DAEMON" --config-file="$tmp/bus.conf" --fork --print-address=3 --print-pid=4 \
                3>"$tmp/bus.address" 4>"$tmp/bus.pid"
        bus_pid=$(cat "$tmp/bus.pid")
        address=$(head -n1 "$tmp/bus.address")
        [[ -n $bus_pid && -n $address ]] || { echo "FAIL: dbus-daemon did not start" >&2; exit 1; }

        export DBUS_SESSION_BUS_ADDRESS=$address
        for args in "list" "personas" "reload" "host" "show work" "start work" "stop --force work" "create work" \
                    "create --no-wait work" "destroy a b" "switch work" "pause work" "resume work" \
                    "wait work running" "wait work removed" "snapshot work" "snapshot work s1" \
                    "snapshots work" "restore work s1" "restore --no-wait work s1" "delete-snapshot work s1 s2" \
                    "set-memory work 256" "set-memory --no-wait work 256" "golden" "golden rebuild throwaway" \
                    "golden rebuild --no-wait throwaway" "golden rebuild --timeout 1 throwaway" \
                    "guest work hostname" "create --cold throwaway" "create --cold --no-wait throwaway" \
                    "crashes" "crashes work" "crash show x" "crash gdb x" "crash keep x" "crash unkeep x" \
                    "crash delete x y" "crash-test work" "crash-test --force --no-wait work" "debug work" \
                    "debug --stdio work"; do
                if expect 7 --user $args; then
                        stderr_has "vmmd is not running"
                        stderr_one_line
                        stderr_lacks "Failed to connect"
                fi
        done
        expect 7 --user list && stderr_has "vmctl: Failed to list VMs: vmmd is not running: "
        expect 7 --user snapshot work s1 && stderr_has "vmctl: Failed to snapshot VM work: vmmd is not running: "
        expect 7 --user snapshots work && stderr_has "Failed to list the snapshots of VM work: "
        expect 7 --user restore work s1 && stderr_has "Failed to restore VM work to snapshot s1: "
        expect 7 --user delete-snapshot work s1 s2 && stderr_has "Failed to delete snapshot s1 of VM work: "
        expect 7 --user set-memory work 256 && stderr_has "Failed to set the memory of VM work: vmmd is not running: "
        expect 7 --user golden && stderr_has "vmctl: Failed to list golden snapshots: vmmd is not running: "
        expect 7 --user golden rebuild throwaway &&
                stderr_has "vmctl: Failed to rebuild the golden snapshot of throwaway: vmmd is not running: "
        expect 7 --user guest work clock && stderr_has "vmctl: Failed to read clock from the guest of VM work: vmmd is not running: "
        expect 7 --user crashes && stderr_has "vmctl: Failed to list crash bundles: vmmd is not running: "
        expect 7 --user crashes work && stderr_has "vmctl: Failed to list the crash bundles of VM work: vmmd is not running: "
        expect 7 --user crash show x && stderr_has "vmctl: Failed to read crash bundle x: vmmd is not running: "
        expect 7 --user crash gdb x && stderr_has "vmctl: Failed to open crash bundle x: vmmd is not running: "
        expect 7 --user crash keep x && stderr_has "vmctl: Failed to keep crash bundle x: vmmd is not running: "
        expect 7 --user crash unkeep x && stderr_has "vmctl: Failed to unkeep crash bundle x: vmmd is not running: "
        expect 7 --user crash delete x y && stderr_has "vmctl: Failed to delete crash bundle x: vmmd is not running: "
        expect 7 --user crash-test work && stderr_has "vmctl: Failed to crash the guest kernel of VM work: vmmd is not running: "
        expect 7 --user debug work && stderr_has "vmctl: Failed to read the kernel symbols of VM work: vmmd is not running: "
        if expect 7 --user debug --stdio work; then
                stderr_has "vmctl: Failed to open the debugger of VM work: vmmd is not running: "
                [[ ! -s $tmp/out ]] || fail "debug --stdio wrote to stdout"
        fi
        # destroy gives up on the other VMs when vmmd cannot be reached (one line, checked above).

        # Without --user, vmctl talks to the system bus, not to the session bus.
        DBUS_SYSTEM_BUS_ADDRESS=$address DBUS_SESSION_BUS_ADDRESS=unix:path=$tmp/no-session-bus \
                expect 7 list && stderr_has "vmmd is not running"
        DBUS_SYSTEM_BUS_ADDRESS=$address DBUS_SESSION_BUS_ADDRESS=unix:path=$tmp/no-session-bus \
                expect 7 --user list && stderr_has "Failed to connect to the user bus"
        # --system after --user switches back.
        DBUS_SYSTEM_BUS_ADDRESS=$address expect 7 --user --system list && stderr_has "vmmd is not running"
        DBUS_SESSION_BUS_ADDRESS=$address expect 7 --user --system list && stderr_has "Failed to connect to the system bus"
else
        echo "dbus-daemon not found, skipping the private-bus cases" >&2
fi

if [[ $failures -gt 0 ]]; then
        echo "$failures check(s) failed" >&2
        exit 1
fi
echo "all checks passed"
