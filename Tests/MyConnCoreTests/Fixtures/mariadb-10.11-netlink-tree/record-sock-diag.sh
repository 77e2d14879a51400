#!/bin/bash
# The SOCK_DIAG_RECORDER for ../mariadb-10.11-proc-tree/record.sh: `record-sock-diag.sh PID PORT
# FILE` keeps in FILE the sock_diag conversation (each request, then its replies) of the kernel
# read of mysqld PID, through `myconn list --no-sql --debug-dump-sock-diag` (no SQL session is
# added). PORT is not needed: the kernel-only read dumps every port mysqld listens on, and the
# replay answers by request. Run as root; MYCONN is the built myconn (default: the debug build):
#   SOCK_DIAG_RECORDER=$PWD/record-sock-diag.sh ../mariadb-10.11-proc-tree/record.sh BIN $PWD
set -euo pipefail
cd "$(dirname "$0")/../../../.."
myconn=${MYCONN:-$(swift build --show-bin-path)/myconn}
"$myconn" list --no-sql --pid "$1" --json --debug-dump-sock-diag "$3" >/dev/null
test -s "$3"
