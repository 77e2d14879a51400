#!/usr/bin/env bash
# What `myconn serve` costs at N idle client sessions (default 10,000; half over 127.0.0.1, half
# over ::1, from one client process), beside mysqld_exporter 0.14 (Debian's
# prometheus-mysqld-exporter, the sidecar fleets run on :9104 today) with its processlist
# collector on, in one run:
#   CPU share     serve --interval 5 for 30 s (6 snapshots): its CPU (utime + stime from
#                 /proc/<pid>/stat) over the wall time, as a share of one core
#   /metrics      curl of serve's /metrics, 400 times back to back over about 12 s, so that about
#                 two snapshots run meanwhile: median, p99 and max of curl's time_total (the
#                 slowest ones are those that met a snapshot; a scrape is served from the last
#                 snapshot and never waits for one); and the same of mysqld_exporter's /metrics,
#                 which queries the server on every scrape
#   /sessions     hyperfine -N: curl of serve's /sessions (the list --json document of the last
#                 snapshot) beside `myconn list --json` (a fresh join), medians and their ratio
# Targets (issue 13): serve under 5 % of one core at 10,000 sessions with --interval 5; /metrics
# under 10 ms (median and p99 are both printed; the target is judged on the p99).
#
#   bench/serve.sh [N]                       default 10000
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_swift
need_build_and_test_packages
need_packages hyperfine:hyperfine /usr/bin/prometheus-mysqld-exporter:prometheus-mysqld-exporter
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (mariadbd as root, /proc/<pid>/fd)" >&2; exit 1; }
cd "$here"
bench_release_build "$here"
bin=$BENCH_BIN
n=${1:-10000}

work=$(mktemp -d /tmp/myconn-bench.XXXXXX)
chmod 755 "$work"
clients="" serve="" exporter=""
cleanup() {
    for p in $serve $exporter $clients; do kill "$p" 2>/dev/null || true; done
    stop_mariadbd "$work"
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
start_mariadbd_for_sessions "$work" "$n"
start_idle_clients "$bin" "$work" "$n"
clients=$CLIENTS_PID

"$bin/myconn" serve --listen 127.0.0.1:0 --interval 5 --audit-log "$work/audit.log" --no-defaults -uroot -S "$MYSQLD_SOCKET" \
    >"$work/serve.out" 2>"$work/serve.err" &
serve=$!
until grep -q 'listening on' "$work/serve.out"; do kill -0 "$serve" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }; sleep 0.1; done
addr=$(sed -n 's/^myconn serve: listening on //p' "$work/serve.out")
metric() { curl -s "http://$addr/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# Ready: a snapshot that has every session.
for _ in $(seq 1 300); do
    s=$(curl -s "http://$addr/metrics" | awk '$1 ~ /^myconn_sessions\{command="Sleep",transport="tcp[46]"\}$/ { s += $2 } END { print s + 0 }')
    [ "$s" -ge "$n" ] && break
    sleep 0.2
done
[ "$s" -ge "$n" ] || { echo "bench: serve saw $s sessions, expected $n" >&2; exit 1; }
snap_ms=$(metric myconn_snapshot_duration_seconds | awk '{ printf "%.0f", $1 * 1000 }')

hz=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
t0=$(ticks "$serve"); w0=${EPOCHREALTIME/./}
sleep 30
t1=$(ticks "$serve"); w1=${EPOCHREALTIME/./}
share=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v w=$((w1 - w0)) 'BEGIN { printf "%.2f", 100 * t / hz / (w / 1e6) }')

# mysqld_exporter, as a DBA starts it for the processlist view (its other default collectors on too).
eport=$(free_port)
DATA_SOURCE_NAME="root@unix($MYSQLD_SOCKET)/" /usr/bin/prometheus-mysqld-exporter --web.listen-address="127.0.0.1:$eport" \
    --collect.info_schema.processlist >"$work/exporter.log" 2>&1 &
exporter=$!
until curl -s "http://127.0.0.1:$eport/metrics" | grep -q '^mysql_up 1'; do kill -0 "$exporter" 2>/dev/null || { cat "$work/exporter.log" >&2; exit 1; }; sleep 0.2; done

latencies() {  # URL COUNT: curl time_total of COUNT requests back to back, one per line, in ms
    for _ in $(seq 1 "$2"); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done | awk '{ printf "%.3f\n", $1 * 1000 }' | sort -n
}
summary() {  # FILE: median p99 max
    awk '{ a[NR] = $1 } END { printf "%.2f %.2f %.2f\n", a[int(NR / 2) + 1], a[int(NR * 0.99)], a[NR] }' "$1"
}
latencies "http://$addr/metrics" 400 >"$work/serve.lat"
latencies "http://127.0.0.1:$eport/metrics" 40 >"$work/exporter.lat"
read -r sm s99 smax < <(summary "$work/serve.lat")
read -r em e99 emax < <(summary "$work/exporter.lat")
[ "$(curl -s "http://127.0.0.1:$eport/metrics" | grep -c '^mysql_info_schema_processlist')" -gt 0 ] || echo "bench: warning: mysqld_exporter exported no processlist series" >&2

hyperfine -N --warmup 3 --min-runs 10 --export-csv "$work/sessions.csv" \
    -n "serve /sessions" "curl -s -o /dev/null http://$addr/sessions" \
    -n "list --json" "$bin/myconn list --json --no-defaults -uroot -S $MYSQLD_SOCKET" >/dev/null 2>"$work/hyperfine.err" ||
    { cat "$work/hyperfine.err" >&2; exit 1; }
median_ms() { awk -F, -v row="$2" 'NR == row + 1 { printf "%.1f", $4 * 1000 }' "$1"; }
sess=$(median_ms "$work/sessions.csv" 1); list=$(median_ms "$work/sessions.csv" 2)
bytes=$(curl -s "http://$addr/sessions" | wc -c)

echo "serve at N=$n idle sessions (one snapshot: $snap_ms ms of wall time)"
echo "CPU: serve --interval 5 over 30 s: $share % of one core"
printf '%-36s %8s %8s %8s\n' "/metrics, ms (curl time_total)" median p99 max
printf '%-36s %8s %8s %8s\n' "serve (400 back to back)" "$sm" "$s99" "$smax"
printf '%-36s %8s %8s %8s\n' "mysqld_exporter 0.14 (40)" "$em" "$e99" "$emax"
echo "ratio of medians mysqld_exporter / serve: $(awk -v a="$em" -v b="$sm" 'BEGIN { printf "%.1f", a / b }')"
echo "/sessions: serve $sess ms (the last snapshot, $bytes bytes), list --json $list ms (a fresh join): ratio list / serve $(awk -v a="$list" -v b="$sess" 'BEGIN { printf "%.1f", a / b }') (hyperfine -N medians)"
awk -v p="$share" -v l="$s99" -v n="$n" 'BEGIN {
    printf "target: serve under 5 %% of one core at N=%d: %.2f %% %s\n", n, p, (p < 5 ? "ok" : "MISSED")
    printf "target: /metrics under 10 ms (p99): %.2f ms %s\n", l, (l < 10 ? "ok" : "MISSED") }'
