#!/usr/bin/env bash
# Chaos on myconn itself (issue 14, section 3), first part: SIGKILL `myconn close --method
# ptrace` at a random moment of its run, KILLS times, on a throwaway mariadbd holding KILLS
# victims and 20 bystanders, and check after every kill that no thread of mysqld is left
# stopped or traced, and at the end that mysqld still runs, accepts a new connection, serves
# every bystander, and holds no descriptor twice (a duplicate myconn made and did not close).
#
#   bench/chaos.sh [KILLS [MAX_DELAY_MS]]      default 300 kills, delays uniform in 0..60 ms
#   CHAOS_KEEP_LOG=FILE bench/chaos.sh ...     also keeps mariadbd's error log in FILE
#
# Every other kill waits for the moment mysqld's main thread has a tracer (the ptrace helper
# holds it) and kills myconn then: those are the kills inside the hold, counted when the
# tracer was seen. The others fall after a random delay; myconn's own run with --wait 0 takes
# about 45 ms here (start, login, the kernel read, the helper's hold). The hold runs in a
# helper process (PtraceHelper), which finishes the cut without myconn: after each kill the
# script waits for it to leave (up to 2 s) before it looks at mysqld's threads. Each kill is
# classed by what it left: the session cut, or not.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_bench_root "ptrace, /proc/<pid>/fd"
kills=${1:-300}
max_delay=${2:-60}
cd "$here"
bench_release_build "$here"
bin=$BENCH_BIN
work=$(mktemp -d /tmp/myconn-chaos.XXXXXX)
chmod 755 "$work"
clients=""
cleanup() { [ -n "$clients" ] && kill "$clients" 2>/dev/null; stop_mariadbd "$work"; cp "$work/error.log" "${CHAOS_KEEP_LOG:-/dev/null}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
n=$((kills + 20))
start_mariadbd_for_sessions "$work" "$n"
start_idle_clients "$bin" "$work" "$n"
clients=$CLIENTS_PID
sql() { mariadb --no-defaults -uroot -S "$MYSQLD_SOCKET" -N -B -e "$1"; }
mapfile -t ids < <(sql "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Sleep' ORDER BY ID")
[ "${#ids[@]}" -ge "$n" ] || { echo "bench: ${#ids[@]} sessions, expected $n" >&2; exit 1; }
victims=("${ids[@]:0:kills}")
bystanders=("${ids[@]:kills:20}")

# held_threads: mysqld's threads in tracing stop or with a tracer (one awk over every thread's
# status: with a thread per connection there are over a thousand).
held_threads() {
    cat /proc/"$MYSQLD_PID"/task/*/status 2>/dev/null | awk '
        /^Name:/ { if (s == "t" || p != 0) c++; s = ""; p = 0 }
        /^State:/ { s = $2 } /^TracerPid:/ { p = $2 }
        END { if (s == "t" || p != 0) c++; print c + 0 }'
}

# helpers: how many of myconn's ptrace helpers still run (an orphan that has exited stays a
# zombie until init reaps it: not counted).
helpers() {
    local f s c=0
    for f in $(grep -lx myconn-ptrace /proc/[0-9]*/comm 2>/dev/null); do
        s=$(awk '/^State:/ { print $2 }' "${f%/comm}/status" 2>/dev/null)  # empty: reaped since
        [ -n "$s" ] && [ "$s" != Z ] && c=$((c + 1))
    done
    echo "$c"
}
# traced: whether mysqld's main thread has a tracer now (bash builtins only: fast enough to
# see a hold of a few hundred microseconds).
traced() {
    local k v
    while read -r k v; do [ "$k" = TracerPid: ] && { [ "$v" != 0 ]; return; }; done < /proc/"$MYSQLD_PID"/status
    return 1
}

cut=0 uncut=0 held=0 gone=0 in_hold=0 at_hold=0 lingering=0
start=$SECONDS
for i in $(seq 0 $((kills - 1))); do
    id=${victims[$i]}
    "$bin/myconn" close "$id" --method ptrace --yes --wait 0 --json --audit-log "$work/audit.log" \
        --no-defaults -uroot -S "$MYSQLD_SOCKET" >/dev/null 2>&1 &
    p=$!
    if [ $((i % 2)) -eq 1 ]; then
        at_hold=$((at_hold + 1)) delay=hold
        seen=0
        while kill -0 "$p" 2>/dev/null; do traced && { seen=1; break; }; done
        kill -9 "$p" 2>/dev/null || true
        in_hold=$((in_hold + seen))
    else
        delay=$(awk -v m="$max_delay" -v r="$RANDOM" 'BEGIN { printf "%.3f", (r / 32767) * m / 1000 }')
        sleep "$delay"
        kill -9 "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
    for _ in $(seq 200); do [ "$(helpers)" -eq 0 ] && break; sleep 0.01; done
    [ "$(helpers)" -eq 0 ] || {
        lingering=$((lingering + 1))
        echo "bench: a ptrace helper still runs 2 s after kill $((i + 1)):" >&2
        for f in $(grep -lx myconn-ptrace /proc/[0-9]*/comm 2>/dev/null); do
            echo "  pid ${f//[^0-9]/} $(grep -E '^(State|PPid|TracerPid):' "${f%/comm}/status" | tr '\n\t' '  ') wchan $(cat "${f%/comm}/wchan")" >&2
            cat "${f%/comm}/stack" >&2
        done
    }
    kill -0 "$MYSQLD_PID" 2>/dev/null || { gone=1; echo "bench: mysqld died after kill $((i + 1)) (delay ${delay} s)" >&2; break; }
    h=$(held_threads)
    [ "$h" -eq 0 ] || { held=$((held + h)); echo "bench: $h mysqld thread(s) left stopped or traced after kill $((i + 1))" >&2; }
    if sql "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = $id" | grep -q 1; then uncut=$((uncut + 1)); else cut=$((cut + 1)); fi
done
secs=$((SECONDS - start))

new_conn=no; sql "SELECT 1" >/dev/null 2>&1 && new_conn=yes
present=$(sql "SELECT ID FROM information_schema.PROCESSLIST")
lost=0
for b in "${bystanders[@]}"; do grep -qx "$b" <<<"$present" || lost=$((lost + 1)); done
# A socket inode held by two of mysqld's descriptors: a duplicate left open.
dups=$(for l in /proc/"$MYSQLD_PID"/fd/*; do readlink "$l" 2>/dev/null; done | grep '^socket:' | sort | uniq -d | wc -l)
intent=$(grep -c '"phase":"intent"' "$work/audit.log" 2>/dev/null || true)
outcome=$(grep -c '"phase":"outcome"' "$work/audit.log" 2>/dev/null || true)

echo "chaos: $kills SIGKILLs of myconn close --method ptrace ($((kills - at_hold)) after delays 0..$max_delay ms, $at_hold at the hold), in $secs s"
echo "  kills that fell while mysqld's thread was held (tracer seen): $in_hold; helpers still running 2 s after a kill: $lingering"
echo "  sessions cut: $cut; not cut: $uncut (audit: $intent intents, $outcome outcomes)"
echo "  mysqld threads left stopped or traced: $held; mysqld died: $gone; new connection accepted: $new_conn"
echo "  bystanders lost: $lost of ${#bystanders[@]}; sockets held twice by mysqld (leaked duplicates): $dups"
[ "$held" -eq 0 ] && [ "$lingering" -eq 0 ] && [ "$gone" -eq 0 ] && [ "$new_conn" = yes ] && [ "$lost" -eq 0 ] && [ "$dups" -eq 0 ]
