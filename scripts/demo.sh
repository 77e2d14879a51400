#!/usr/bin/env bash
# The main job on an embedded default: a throwaway MariaDB in a temp directory with a few
# demo clients (tcp4, tcp6, unix; idle and inside SELECT SLEEP), then `myconn list` against it.
# Extra arguments go to `myconn list` (e.g. --json, --all). Everything is removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_swift
need_build_and_test_packages
if [ "$(id -u)" -ne 0 ]; then
    echo "myconn: the demo runs mariadbd as root and reads its /proc/<pid>/fd; run it as root (sudo -E $0)" >&2
    exit 1
fi
cd "$here"
swift build -c release --static-swift-stdlib --product myconn >&2
swift build -c release --static-swift-stdlib --product myconn-demo-clients >&2
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)

dir=$(mktemp -d /tmp/myconn-demo.XXXXXX)
chmod 755 "$dir"
clients=""
cleanup() {
    [ -n "$clients" ] && kill "$clients" 2>/dev/null || true
    stop_mariadbd "$dir"
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
start_mariadbd "$dir"
echo "myconn: throwaway MariaDB pid $MYSQLD_PID on 127.0.0.1/::1 port $MYSQLD_PORT, socket $MYSQLD_SOCKET" >&2

fifo=$dir/clients.in
mkfifo "$fifo"
"$bin/myconn-demo-clients" --port "$MYSQLD_PORT" --socket "$MYSQLD_SOCKET" \
    --sessions tcp4:idle:2 --sessions tcp4:busy:1 --sessions tcp6:idle:1 --sessions tcp6:busy:1 \
    --sessions unix:idle:2 --sessions unix:busy:1 <"$fifo" >"$dir/clients.out" &
clients=$!
exec 3>"$fifo"   # holds the clients' stdin open until we exit
for _ in $(seq 1 200); do grep -q '^ready$' "$dir/clients.out" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
echo "myconn: demo clients hold $(grep -vc '^ready$' "$dir/clients.out") sessions; running: myconn list -uroot -S $MYSQLD_SOCKET $*" >&2
echo >&2
"$bin/myconn" list --no-defaults -uroot -S "$MYSQLD_SOCKET" "$@"
