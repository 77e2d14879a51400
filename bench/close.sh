#!/usr/bin/env bash
# How much mysqld notices a socket cut: with N idle sessions held (default 1000) and a probe
# session running SELECT 1 in a tight loop, the longest gap the probe sees while each of these
# cuts one session, side by side in one run:
#   gdb -p PID -batch -ex 'call (int)shutdown(FD,2)'   (the seed's recipe, made non-destructive)
#   myconn close ID --method ptrace | pidfd | destroy
# plus mysqld's freeze under ptrace for 1 fd and for 100 fds in one command, and each tool's
# own end-to-end time. After the table, for myconn's ptrace cuts, how long of the freeze the
# injected thread held registers not its own (`injected_us`): the window a SIGKILL of myconn,
# which cannot be blocked, must not fall in.
#
#   bench/close.sh [N]
#   MYCONN_BASE=/path/to/old/myconn bench/close.sh [N]
#
# MYCONN_BASE adds an older myconn binary beside the one built here: each myconn cut is made
# by both in the same run, one right after the other against the same server (which of the two
# goes first alternates from row to row), each on sessions of its own; the table gains the base's
# gap, tool time and freeze, and new/base for the gap and the freeze. Each figure is one cut:
# compare a few runs, not one.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_swift
need_build_and_test_packages
need_packages gdb:gdb
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (ptrace, /proc/<pid>/fd)" >&2; exit 1; }
base=${MYCONN_BASE:-}
if [ -n "$base" ]; then
    [ -x "$base" ] && [ -f "$base" ] || { echo "bench: MYCONN_BASE=$base is not an executable file" >&2; exit 1; }
    base=$(cd "$(dirname "$base")" && pwd)/$(basename "$base")
fi
cd "$here"
swift build -c release --static-swift-stdlib --product myconn >&2
swift build -c release --static-swift-stdlib --product myconn-demo-clients >&2
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
n=${1:-1000}

work=$(mktemp -d /tmp/myconn-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; stop_mariadbd "$work"; rm -rf "$work"; }
trap cleanup EXIT INT TERM
ulimit -n "$(ulimit -Hn)"
start_mariadbd "$work" --max-connections=$((n + 300)) --open-files-limit=$(ulimit -Hn) --thread-stack=192K

# hold CLIENTS-FILE SPEC... : starts clients, waits until ready; their stdin is fd 3+ of this shell.
hold() {
    local out=$1; shift
    local fifo=$out.in
    mkfifo "$fifo"
    local args=()
    for s in "$@"; do args+=(--sessions "$s"); done
    "$bin/myconn-demo-clients" --port "$MYSQLD_PORT" --socket "$MYSQLD_SOCKET" "${args[@]}" <"$fifo" >"$out" &
    pids+=($!)
    exec {fdvar}>"$fifo"
    eval "HOLD_FD_$(basename "$out" | tr -c 'a-zA-Z0-9\n' _)=$fdvar"
    until grep -q '^ready$' "$out"; do sleep 0.1; done
}

# 110 victims for each binary: 1 for gdb, 3 for the methods, 100 for the shared freeze.
extra=("tcp4:idle:110"); [ -z "$base" ] || extra+=("tcp4:idle:110")
hold "$work/idle" "tcp4:idle:$n" "${extra[@]}"
victims=($(awk '$2=="tcp4" {print $1}' "$work/idle" | tail -n $((110 * ${#extra[@]}))))
bvictims=("${victims[@]:110}")
fd_of() {  # session id -> mysqld fd, from myconn list
    "$bin/myconn" list --json --no-defaults -uroot -S "$MYSQLD_SOCKET" 2>/dev/null |
        tr '{' '\n' | grep "\"id\":$1," | sed -E 's/.*"fd":([0-9]+).*/\1/'
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# measure COMMAND...: sets GAP (the probe's longest gap while COMMAND runs, ms), TOOL
# (COMMAND's own time, ms), FREEZE and INJECTED (freeze_us and injected_us from COMMAND's JSON, or -).
measure() {
    local out=$work/probe.$RANDOM
    hold "$out" "tcp4:loop:1"
    local var=HOLD_FD_$(basename "$out" | tr -c 'a-zA-Z0-9\n' _)
    sleep 0.5
    local t0 t1 result
    t0=$(now_ms)
    result=$("$@" 2>/dev/null || true)
    t1=$(now_ms)
    sleep 0.5
    eval "exec ${!var}>&-"
    until grep -q '^SUMMARY' "$out"; do sleep 0.05; done
    GAP=$(awk '/^SUMMARY/ {printf "%.1f", $7 / 1000}' "$out")
    TOOL=$((t1 - t0))
    FREEZE=$(echo "$result" | { grep -o '"freeze_us":[0-9]*' || true; } | head -1 | cut -d: -f2)
    FREEZE=${FREEZE:--}
    INJECTED=$(echo "$result" | { grep -o '"injected_us":[0-9]*' || true; } | head -1 | cut -d: -f2)
    INJECTED=${INJECTED:--}
}
windows=()
ratio() { case "$1$2" in *-*) echo -;; *) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }';; esac; }
fmt='%-34s %14s %12s %14s'
[ -z "$base" ] || fmt="$fmt %12s %12s %14s %12s %15s"
# shellcheck disable=SC2059
row() { printf "$fmt\n" "$@"; }

# probe LABEL COMMAND...: one row for a cut made by something other than myconn.
probe() {
    local label=$1; shift
    measure "$@"
    if [ -n "$base" ]; then row "$label" "$GAP" "$TOOL" "$FREEZE" - - - - -; else row "$label" "$GAP" "$TOOL" "$FREEZE"; fi
}
close() {  # BINARY ARGS...
    local b=$1; shift
    "$b" close "$@" --yes --wait 0 --json --audit-log "$work/audit.log" --no-defaults -uroot -S "$MYSQLD_SOCKET"
}
# myconn_cut LABEL FIRST COUNT METHOD: myconn close on COUNT victims from FIRST on; with MYCONN_BASE,
# the base binary as well on its own victims, first or second by turns.
turn=0
myconn_cut() {
    local label=$1 first=$2 count=$3 method=$4
    if [ -z "$base" ]; then
        measure close "$bin/myconn" "${victims[@]:first:count}" --method "$method"
        row "$label" "$GAP" "$TOOL" "$FREEZE"
        [ "$method" != ptrace ] || windows+=("$label: $INJECTED us of $FREEZE")
        return
    fi
    local g t f w
    if [ $((turn % 2)) -eq 0 ]; then
        measure close "$bin/myconn" "${victims[@]:first:count}" --method "$method"; g=$GAP; t=$TOOL; f=$FREEZE; w=$INJECTED
        measure close "$base" "${bvictims[@]:first:count}" --method "$method"
    else
        measure close "$base" "${bvictims[@]:first:count}" --method "$method"
        local bg=$GAP bt=$TOOL bf=$FREEZE
        measure close "$bin/myconn" "${victims[@]:first:count}" --method "$method"; g=$GAP; t=$TOOL; f=$FREEZE; w=$INJECTED
        GAP=$bg; TOOL=$bt; FREEZE=$bf
    fi
    [ "$method" != ptrace ] || windows+=("$label: $w us of $f")
    turn=$((turn + 1))
    row "$label" "$g" "$t" "$f" "$GAP" "$TOOL" "$FREEZE" "$(ratio "$g" "$GAP")" "$(ratio "$f" "$FREEZE")"
}

echo "mysqld pid $MYSQLD_PID, $n idle sessions held; probe: SELECT 1 in a loop"
[ -z "$base" ] || echo "base: $base (each myconn cut made by both in this run)"
if [ -n "$base" ]; then
    row "cut" "probe max gap ms" "tool ms" "mysqld freeze us" "base gap ms" "base tool ms" "base freeze us" "gap new/base" "freeze new/base"
else
    row "cut" "probe max gap ms" "tool ms" "mysqld freeze us"
fi
probe "none (baseline)" sleep 1
probe "gdb call shutdown(fd)" gdb -p "$MYSQLD_PID" -batch -ex "call (int)shutdown($(fd_of "${victims[0]}"),2)"
myconn_cut "myconn close --method ptrace" 1 1 ptrace
myconn_cut "myconn close --method pidfd" 2 1 pidfd
myconn_cut "myconn close --method destroy" 3 1 destroy
myconn_cut "myconn close 100 ids --method ptrace" 4 100 ptrace
echo "registers injected (injected_us of freeze_us, myconn's ptrace cuts):"
printf '  %s\n' "${windows[@]}"
