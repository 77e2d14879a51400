#!/usr/bin/env bash
# The soak (issue 14 §2): CUTS random cuts (default 10,000) amid churn on a server holding
# SESSIONS sessions (default 500), once with thread_handling=one-thread-per-connection and once
# with pool-of-threads. bench/soak.py holds the sessions (each reads back a secret of its own in
# every query), churns about 100 connects and disconnects a second through PyMySQL and
# mysql-connector-python (from PyPI, in a venv under .build-soak), cuts through myconn (kill,
# close --method ptrace|pidfd|destroy, probe of a live client, fault with heal; by id, by
# --zombie client-gone, by --pid --peer) and judges with its own oracle: rows of another
# session, untargeted sessions lost, targets left standing, failed actions, mysqld crashes,
# traced or stopped mysqld threads, mysqld's descriptor count against its baseline. It prints
# one JSON line per mode and a table; the exit status is 1 when any of those is not 0.
#
#   bench/soak.sh [CUTS [SESSIONS]]        (cuts per mode; four cuts are made at once)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_bench_root "ptrace, pidfd, sock_diag destroy, nftables"
cuts=${1:-10000}
sessions=${2:-500}
cd "$here"
bench_release_build "$here"
venv=$here/.build-soak/venv
if ! "$venv/bin/python" -c 'import pymysql, mysql.connector' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q pymysql mysql-connector-python >&2
fi
versions=$("$venv/bin/pip" list 2>/dev/null | awk 'tolower($1) ~ /^(pymysql|mysql-connector-python)$/ {printf "%s %s; ", $1, $2}')

work=$(mktemp -d /tmp/myconn-soak.XXXXXX)
chmod 755 "$work"
# The soak's faults carry --for 30s: the kernel expires any a stopped run leaves.
cleanup() { stop_mariadbd "$work/server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
ulimit -n "$(ulimit -Hn)"
status=0
results=()
for mode in one-thread-per-connection pool-of-threads; do
    mkdir -p "$work/server"
    rm -rf "$work/server"/*
    # performance_schema under pool-of-threads: its thread/socket rows prove unix sessions' fds,
    # which a shared thread cannot (without it such a cut is refused, nothing touched).
    ps=OFF; [ "$mode" = pool-of-threads ] && ps=ON
    start_mariadbd "$work/server" --thread-handling="$mode" --performance-schema=$ps --max-connections=$((sessions + 300)) \
        --open-files-limit="$(ulimit -Hn)" --thread-stack=192K --thread-pool-max-threads=$((sessions + 300))
    set +e
    line=$("$venv/bin/python" bench/soak.py --myconn "$BENCH_BIN/myconn" --socket "$MYSQLD_SOCKET" --port "$MYSQLD_PORT" \
        --pid "$MYSQLD_PID" --audit-log "$work/audit.log" --cuts "$cuts" --sessions "$sessions" --thread-handling "$mode")
    rc=$?
    set -e
    [ "$rc" -eq 0 ] || status=1
    echo "$line"
    results+=("$line")
    stop_mariadbd "$work/server"
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
keys = ["cuts", "seconds", "cuts_per_second", "churn_per_second", "queries", "cut_seen_by_client", "foreign_rows",
        "lost_untargeted", "targets_left_standing", "action_failures", "mysqld_crashes", "traced_threads",
        "refused_not_proven", "driver_errors", "fds_baseline", "fds_end", "socket_fds_baseline", "socket_fds_end",
        "myconn_mean_ms", "workers"]
print("%-24s" % "soak" + "".join("%28s" % r["thread_handling"] for r in rows))
for k in keys:
    print("%-24s" % k + "".join("%28s" % r.get(k) for r in rows))
for r in rows:
    print("%s by method/way: %s" % (r["thread_handling"], ", ".join("%s %d" % kv for kv in r["by"].items())))
    for n in r["notes"]:
        print("  note: " + n)
'
echo "soak: $sessions held sessions, clients $versions$(mariadbd --version | awk '{print $3}')"
exit $status
