#!/bin/bash
# record.sh MYCONN OUTDIR — records the `reap --test-matching` fixtures (README.md says what each
# file holds) from a throwaway mariadbd on loopback, then stops every client and the server.
# Run as root (list reads mysqld's /proc/PID/fd), from the repository's root.
set -euo pipefail
myconn=$1 out=$2
source scripts/lib.sh
d=$(mktemp -d /tmp/myconn-test-rec.XXXX)
clients=()
cleanup() {
    for fd in 3 4 5 6; do eval "exec $fd>&-" 2>/dev/null || true; done
    for p in "${clients[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${clients[@]}" 2>/dev/null || true
    stop_mariadbd "$d"
    rm -rf "$d"
}
trap cleanup EXIT
start_mariadbd "$d" --event-scheduler=ON

M="mariadb --no-defaults"
ROOT="$M -uroot -S $MYSQLD_SOCKET"
$ROOT -e "CREATE DATABASE shop; CREATE DATABASE reports;
    CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT SELECT ON *.* TO 'app'@'%';
    CREATE USER 'report'@'%' IDENTIFIED BY 'report-pw'; GRANT SELECT ON *.* TO 'report'@'%';"
APP4="$M -uapp -papp-pw -h127.0.0.1 -P$MYSQLD_PORT --protocol=tcp"
APP6="$M -uapp -papp-pw -h::1 -P$MYSQLD_PORT --protocol=tcp"
REPORT="$M -ureport -preport-pw -S $MYSQLD_SOCKET"

# idle CLIENT-COMMAND FD: a client that stays in Sleep, reading its statements from a fifo held
# open on FD (closing FD ends it).
idle() {
    mkfifo "$d/fifo$2"
    $1 <"$d/fifo$2" &
    clients+=($!)
    eval "exec $2>$d/fifo$2"
}
busy() { $1 -e "$2" >/dev/null 2>&1 & clients+=($!); }

idle "$APP4 shop" 3            # app, tcp4, the oldest idle
sleep 2
idle "$REPORT reports" 4       # report, unix
idle "$APP6 shop" 5            # app, tcp6
sleep 2
busy "$APP4 shop" "SELECT SLEEP(600)"
sleep 1
busy "$APP4 shop" "SELECT SLEEP(599)"                 # same fingerprint as the one above
busy "$REPORT reports" "SELECT 'daily', SLEEP(600)"   # report, unix
sleep 1
idle "$APP4" 6                 # app, tcp4, no db, idle since just now
sleep 2

$ROOT -e 'SHOW FULL PROCESSLIST\G' >"$out/processlist-vertical.txt"
$ROOT -t -e 'SHOW FULL PROCESSLIST' >"$out/processlist-tabular.txt"
$ROOT -e 'SHOW FULL PROCESSLIST' >"$out/processlist.tsv"
"$myconn" list --json --idle 5 -uroot -S "$MYSQLD_SOCKET" >"$out/list.jsonl"
sleep 2
"$myconn" list --json --idle 5 --clients -uroot -S "$MYSQLD_SOCKET" >>"$out/list.jsonl"
"$myconn" list --json --no-sql -S "$MYSQLD_SOCKET" >"$out/list-no-sql.json"
# pt-kill reads a file's snapshots as paragraphs: a blank line between two.
{ $ROOT -t -e 'SHOW FULL PROCESSLIST'; echo; sleep 2; $ROOT -t -e 'SHOW FULL PROCESSLIST'; } >"$out/processlist-tabular-2.txt"
$ROOT -e 'SELECT VERSION()' -N >"$out/version.txt"
# The oracle: what pt-kill itself picks from the tabular snapshot (its timestamps cut).
ptkill() { name=$1; shift; pt-kill --test-matching "$out/processlist-tabular.txt" --print --victims all "$@" 2>&1 | sed 's/^# [^ ]* //' >"$out/pt-kill-$name.out"; }
ptkill busy-time-4 --busy-time 4
ptkill idle-time-6 --idle-time 6
ptkill match-user-app-busy-time-4 --match-user app --busy-time 4
