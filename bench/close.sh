#!/usr/bin/env bash
# How much mysqld notices a socket cut: with N idle sessions held (default 1000) and a probe
# session running SELECT 1 in a tight loop, the longest gap the probe sees while each of these
# cuts one session, side by side in one run:
#   gdb -p PID -batch -ex 'call (int)shutdown(FD,2)'   (the seed's recipe, made non-destructive)
#   myconn close ID --method ptrace | pidfd | destroy
# plus mysqld's freeze under ptrace for 1 fd and for 100 fds in one command, and each tool's
# own end-to-end time.
#
#   bench/close.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_swift
need_build_and_test_packages
need_packages gdb:gdb
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (ptrace, /proc/<pid>/fd)" >&2; exit 1; }
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

hold "$work/idle" "tcp4:idle:$n" "tcp4:idle:110"
victims=($(awk '$2=="tcp4" {print $1}' "$work/idle" | tail -n 110))
fd_of() {  # session id -> mysqld fd, from myconn list
    "$bin/myconn" list --json --no-defaults -uroot -S "$MYSQLD_SOCKET" 2>/dev/null |
        tr '{' '\n' | grep "\"id\":$1," | sed -E 's/.*"fd":([0-9]+).*/\1/'
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# probe LABEL COMMAND...: the probe's longest gap while COMMAND runs, and COMMAND's own time.
probe() {
    local label=$1; shift
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
    local gap freeze
    gap=$(awk '/^SUMMARY/ {printf "%.1f", $7 / 1000}' "$out")
    freeze=$(echo "$result" | { grep -o '"freeze_us":[0-9]*' || true; } | head -1 | cut -d: -f2)
    printf '%-34s %14s %12s %14s\n' "$label" "$gap" "$((t1 - t0))" "${freeze:--}"
}

echo "mysqld pid $MYSQLD_PID, $n idle sessions held; probe: SELECT 1 in a loop"
printf '%-34s %14s %12s %14s\n' "cut" "probe max gap ms" "tool ms" "mysqld freeze us"
close() { "$bin/myconn" close "$@" --yes --wait 0 --json --audit-log "$work/audit.log" --no-defaults -uroot -S "$MYSQLD_SOCKET"; }
probe "none (baseline)" sleep 1
probe "gdb call shutdown(fd)" gdb -p "$MYSQLD_PID" -batch -ex "call (int)shutdown($(fd_of "${victims[0]}"),2)"
probe "myconn close --method ptrace" close "${victims[1]}" --method ptrace
probe "myconn close --method pidfd" close "${victims[2]}" --method pidfd
probe "myconn close --method destroy" close "${victims[3]}" --method destroy
probe "myconn close 100 ids --method ptrace" close "${victims[@]:4:100}" --method ptrace
