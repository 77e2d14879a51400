#!/bin/bash
# Records the /proc tree in proc/ beside this script from two throwaway mariadbd (a "decoy"
# started first, then the "main" one a few seconds later, same network namespace) while
# myconn-demo-clients holds sessions on the main one. Run as root:
#   record.sh DIR_WITH_myconn-demo-clients [FIXTURE_DIR]
# FIXTURE_DIR (default: beside this script) receives proc/ and the files below. With
# SOCK_DIAG_RECORDER set to a command, it is run as `CMD MAIN_PID MAIN_PORT FILE` right after
# the processlist is read and before /proc is copied, to keep the sock_diag conversation of
# list's kernel read in FIXTURE_DIR/sock-diag.bin (with `ss -tnpei`, tcp_info, in ss-tnpei.txt).
# With TRIM_TCP=1, net/tcp{,6} keep only their header, the LISTEN rows and the rows with either
# server's port at one end (the namespace may hold a benchmark's thousands of connections).
# Only what the tests read is copied: per process comm, stat, status, fd/ (each entry a real
# symlink to what readlink(2) gave, e.g. socket:[N]), net/{tcp,tcp6,unix}, ns/{net,pid}
# (symlinks), task/<tid>/{comm,status,syscall} for the session threads; pid 1's comm and
# status; one session thread's /proc/<tid>/{comm,status} (a thread id given as --pid);
# /proc/uptime. Beside it: processlist.tsv, uptime-sql.txt (the main server's Uptime),
# task-pollfd (the 8 bytes of each polling thread's struct pollfd from /proc/<pid>/mem),
# clients.out (what the demo clients printed), ss-tnpe.txt / ss-xpe.txt (the oracle), facts.txt.
set -euo pipefail
BIN=${1:?usage: record.sh DIR_WITH_myconn-demo-clients [FIXTURE_DIR]}
HERE=$(cd "${2:-$(dirname "$0")}" && pwd)
OUT=$HERE/proc
W=$(mktemp -d /tmp/myconn-record-XXXX)
trap 'kill $(cat $W/*.pid 2>/dev/null) $CLIENTS_PID 2>/dev/null || true; sleep 1; rm -rf "$W"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_server() { # name port
    mariadb-install-db --no-defaults --datadir=$W/$1 --auth-root-authentication-method=normal --skip-test-db >/dev/null
    mariadbd --no-defaults --datadir=$W/$1 --port=$2 --socket=$W/$1.sock --user=root --bind-address=127.0.0.1,::1 \
        --pid-file=$W/$1.pid --log-error=$W/$1.err --innodb-buffer-pool-size=16M --table-open-cache=64 \
        --skip-name-resolve >/dev/null 2>&1 &
    for _ in $(seq 300); do [ -S $W/$1.sock ] && [ -s $W/$1.pid ] && break; sleep 0.05; done
    mariadb --no-defaults -uroot -S $W/$1.sock -e "DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES"
}
DECOY_PORT=$(free_port); start_server decoy $DECOY_PORT
sleep 4
MAIN_PORT=$(free_port); start_server main $MAIN_PORT
MAIN=$(cat $W/main.pid); DECOY=$(cat $W/decoy.pid)

mkfifo $W/hold
"$BIN/myconn-demo-clients" --port $MAIN_PORT --socket $W/main.sock --sessions tcp4:idle:2 --sessions tcp6:idle:1 \
    --sessions unix:idle:2 --sessions unix:busy:1 --sessions tcp4:busy:1 <$W/hold >$W/clients.out 2>/dev/null &
CLIENTS_PID=$!
exec 3>$W/hold
for _ in $(seq 200); do grep -q '^ready' $W/clients.out && break; sleep 0.05; done
sleep 0.5

rm -rf "$OUT"; mkdir -p "$OUT"
sqlmain() { mariadb --no-defaults -uroot -S $W/main.sock -B -e "$1"; }
# The processlist first, the kernel second (as list reads them).
sqlmain "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO, TID FROM information_schema.PROCESSLIST ORDER BY ID" >$HERE/processlist.tsv
sqlmain "SHOW GLOBAL STATUS LIKE 'Uptime'" | tail -1 | cut -f2 >$HERE/uptime-sql.txt
VERSION=$(sqlmain "SELECT VERSION()" | tail -1)
cp /proc/uptime $OUT/uptime
if [ -n "${SOCK_DIAG_RECORDER:-}" ]; then $SOCK_DIAG_RECORDER $MAIN $MAIN_PORT $HERE/sock-diag.bin; fi

copy_links() { # src dst
    mkdir -p "$2"
    for e in "$1"/*; do [ -e "$e" ] || [ -L "$e" ] || continue; l=$(readlink "$e") || continue; ln -s "$l" "$2/$(basename "$e")"; done
}
copy_proc() { # pid [net]
    local p=$1 d=$OUT/$1
    mkdir -p $d
    for f in comm stat status; do cat /proc/$p/$f >$d/$f; done
    copy_links /proc/$p/fd $d/fd
    mkdir -p $d/ns; for k in net pid; do ln -s "$(readlink /proc/$p/ns/$k)" $d/ns/$k; done
    if [ "${2:-}" = net ]; then mkdir -p $d/net; for f in tcp tcp6 unix; do cat /proc/$p/net/$f >$d/net/$f; done; fi
    if [ "${2:-}" = net ] && [ "${TRIM_TCP:-}" = 1 ]; then
        for f in tcp tcp6; do
            awk -v a=$(printf %04X $MAIN_PORT) -v b=$(printf %04X $DECOY_PORT) 'NR == 1 || $4 == "0A" ||
                substr($2, length($2) - 3) == a || substr($3, length($3) - 3) == a ||
                substr($2, length($2) - 3) == b || substr($3, length($3) - 3) == b' /proc/$p/net/$f >$d/net/$f
        done
    fi
}
copy_proc $MAIN net
copy_proc $DECOY net
copy_proc $CLIENTS_PID
: >$HERE/task-pollfd
for tid in $(tail -n +2 $HERE/processlist.tsv | cut -f9 | grep -v NULL) $MAIN; do
    t=$OUT/$MAIN/task/$tid; mkdir -p $t
    for f in comm status syscall; do cat /proc/$MAIN/task/$tid/$f >$t/$f; done
    read -r nr addr n _ <$t/syscall || true
    if [ "$nr" = 7 ] && [ "$n" = 0x1 ]; then
        printf '%s %s %s\n' $tid $addr "$(dd if=/proc/$MAIN/mem bs=1 count=8 skip=$((addr)) iflag=skip_bytes 2>/dev/null | od -An -tx1 | tr -d ' \n')" >>$HERE/task-pollfd
    fi
done
mkdir -p $OUT/1; cat /proc/1/comm >$OUT/1/comm; cat /proc/1/status >$OUT/1/status
THREAD=$(tail -n +2 $HERE/processlist.tsv | cut -f9 | grep -v NULL | head -1)
mkdir -p $OUT/$THREAD; cat /proc/$THREAD/comm >$OUT/$THREAD/comm; cat /proc/$THREAD/status >$OUT/$THREAD/status

ss -tnpe state established "( sport = :$MAIN_PORT )" >$HERE/ss-tnpe.txt
if [ -n "${SOCK_DIAG_RECORDER:-}" ]; then ss -tnpei state established "( sport = :$MAIN_PORT )" >$HERE/ss-tnpei.txt; fi
ss -xpe | grep "pid=$MAIN," >$HERE/ss-xpe.txt || true
cp $W/clients.out $HERE/clients.out
cat >$HERE/facts.txt <<FACTS
main_pid $MAIN
main_port $MAIN_PORT
main_socket $W/main.sock
decoy_pid $DECOY
decoy_port $DECOY_PORT
clients_pid $CLIENTS_PID
thread_as_pid $THREAD
recorded $(date -u +%FT%TZ)
kernel $(uname -r) $(uname -m)
server $(mariadbd --version)
version $VERSION
FACTS
exec 3>&-
