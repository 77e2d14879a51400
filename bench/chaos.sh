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
# The delay is drawn per kill; myconn's own run with --wait 0 takes about 45 ms here (start,
# login, the kernel read, the freeze). Each kill is classed by what it left: the session cut
# (myconn got that far), or not. The kills that land inside the window where mysqld's thread
# holds injected registers cannot be told apart from outside; `injected_us` (bench/close.sh)
# gives the window's length, so its share of the run gives the expected count.
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

# held_threads: mysqld's threads in tracing stop or with a tracer.
held_threads() {
    local t c=0
    for t in /proc/"$MYSQLD_PID"/task/*; do
        awk '/^State:/ { s = $2 } /^TracerPid:/ { p = $2 } END { exit !(s == "t" || p != 0) }' "$t/status" 2>/dev/null && c=$((c + 1))
    done
    echo "$c"
}

cut=0 uncut=0 held=0 gone=0
start=$SECONDS
for i in $(seq 0 $((kills - 1))); do
    id=${victims[$i]}
    "$bin/myconn" close "$id" --method ptrace --yes --wait 0 --json --audit-log "$work/audit.log" \
        --no-defaults -uroot -S "$MYSQLD_SOCKET" >/dev/null 2>&1 &
    p=$!
    delay=$(awk -v m="$max_delay" -v r="$RANDOM" 'BEGIN { printf "%.3f", (r / 32767) * m / 1000 }')
    sleep "$delay"
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
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

echo "chaos: $kills SIGKILLs of myconn close --method ptrace, delays 0..$max_delay ms, in $secs s"
echo "  sessions cut before the kill: $cut; not cut: $uncut (audit: $intent intents, $outcome outcomes)"
echo "  mysqld threads left stopped or traced: $held; mysqld died: $gone; new connection accepted: $new_conn"
echo "  bystanders lost: $lost of ${#bystanders[@]}; sockets held twice by mysqld (leaked duplicates): $dups"
[ "$held" -eq 0 ] && [ "$gone" -eq 0 ] && [ "$new_conn" = yes ] && [ "$lost" -eq 0 ] && [ "$dups" -eq 0 ]
