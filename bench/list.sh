#!/usr/bin/env bash
# Times `myconn list --json` beside what a DBA would run instead, in one run, on a throwaway
# mariadbd holding N client sessions, and prints medians, ratios and peak memory:
#   ss -tnp                      sockets with their processes (walks every process's fds)
#   lsof -n -P -i -a -p PID      mysqld's internet sockets
#   pl + ss -tn                  the two halves of a hand join: `mariadb -e` reading
#                                information_schema.PROCESSLIST, and `ss -tn` (no processes)
# Targets (issue 4): myconn <= 0.5 x ss -tnp and <= 1.5 x (pl + ss -tn), peak memory < 64 MB,
# time growing linearly with N (the last column: milliseconds per 1,000 sessions).
#
#   bench/list.sh [N ...]        default: 1000 5000 10000
#
# Sessions: N TCP (IPv4, idle) from one client process. hyperfine runs each command
# (warm-up 3, at least 20 runs); peak memory is /usr/bin/time -v's maximum resident set size.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_swift
need_build_and_test_packages
need_packages hyperfine:hyperfine lsof:lsof /usr/bin/time:time
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (mariadbd as root, /proc/<pid>/fd)" >&2; exit 1; }
cd "$here"
swift build -c release --static-swift-stdlib --product myconn >&2
swift build -c release --static-swift-stdlib --product myconn-demo-clients >&2
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 5000 10000)

work=$(mktemp -d /tmp/myconn-bench.XXXXXX)
chmod 755 "$work"
clients=""
cleanup() { [ -n "$clients" ] && kill "$clients" 2>/dev/null; stop_mariadbd "$work"; rm -rf "$work"; }
trap cleanup EXIT INT TERM
ulimit -n "$(ulimit -Hn)"
max=0; for n in "${sizes[@]}"; do [ "$n" -gt "$max" ] && max=$n; done
# Each session needs a descriptor in mysqld and one in the client process.
need_fds=$((max + 200))
[ "$(ulimit -n)" -ge "$need_fds" ] || { echo "bench: $max sessions need $need_fds descriptors; the hard limit is $(ulimit -Hn)" >&2; exit 1; }
start_mariadbd "$work" --max-connections=$((max + 100)) --open-files-limit=$(ulimit -Hn) --table-open-cache=64 --thread-stack=192K

median_ms() {  # hyperfine CSV: command,mean,stddev,median,...
    awk -F, 'NR==2 { printf "%.1f", $4 * 1000 }' "$1"
}
peak_mb() {
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }'
}

printf '%-6s %10s %10s %8s %8s %8s %10s %12s %9s %10s\n' "N" "myconn ms" "ss -tnp" "lsof" "pl" "ss -tn" "/ss -tnp" "/(pl+ss-tn)" "peak MB" "ms/1000"

for n in "${sizes[@]}"; do
    [ -n "$clients" ] && { kill "$clients"; wait "$clients" 2>/dev/null || true; clients=""; sleep 1; }
    fifo=$work/in.$n; mkfifo "$fifo"
    "$bin/myconn-demo-clients" --port "$MYSQLD_PORT" --socket "$MYSQLD_SOCKET" --sessions "tcp4:idle:$n" \
        <"$fifo" >"$work/clients.$n" &
    clients=$!
    exec 3>"$fifo"
    until grep -q '^ready$' "$work/clients.$n"; do
        kill -0 "$clients" 2>/dev/null || { echo "bench: clients failed at N=$n" >&2; exit 1; }
        sleep 0.2
    done
    # ss walks every socket of the namespace: others left running would slow it, not myconn.
    others=$(( $(ss -tanH exclude time-wait | wc -l) - 2 * n - 10 ))  # this run's own closed sockets wait in TIME-WAIT
    [ "$others" -le 100 ] || echo "bench: warning: about $others other TCP sockets in this namespace make ss slower; figures not comparable" >&2
    list=("$bin/myconn" list --json --no-defaults -uroot -S "$MYSQLD_SOCKET")
    got=$("${list[@]}" 2>/dev/null | grep -o '"id":' | wc -l)
    [ "$got" -ge "$n" ] || { echo "bench: myconn listed $got sessions, expected $n" >&2; exit 1; }
    hyperfine -N --warmup 3 --min-runs 20 --export-csv "$work/myconn.csv" "${list[*]}" >/dev/null
    hyperfine -N --warmup 3 --min-runs 20 --export-csv "$work/ss.csv" "ss -tnp" >/dev/null
    hyperfine -N --warmup 3 --min-runs 20 --export-csv "$work/lsof.csv" "lsof -n -P -i -a -p $MYSQLD_PID" >/dev/null
    hyperfine -N --warmup 3 --min-runs 20 --export-csv "$work/pl.csv" \
        "mariadb --no-defaults -uroot -S $MYSQLD_SOCKET -N -e 'SELECT * FROM information_schema.PROCESSLIST'" >/dev/null
    hyperfine -N --warmup 3 --min-runs 20 --export-csv "$work/sstn.csv" "ss -tn" >/dev/null
    m=$(median_ms "$work/myconn.csv"); s=$(median_ms "$work/ss.csv"); l=$(median_ms "$work/lsof.csv")
    p=$(median_ms "$work/pl.csv"); t=$(median_ms "$work/sstn.csv")
    mem=$(peak_mb "${list[@]}")
    printf '%-6s %10s %10s %8s %8s %8s %10s %12s %9s %10s\n' "$n" "$m" "$s" "$l" "$p" "$t" \
        "$(awk -v a="$m" -v b="$s" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$m" -v b="$p" -v c="$t" 'BEGIN { printf "%.2f", a / (b + c) }')" "$mem" \
        "$(awk -v a="$m" -v n="$n" 'BEGIN { printf "%.1f", a * 1000 / n }')"
    exec 3>&-
done
