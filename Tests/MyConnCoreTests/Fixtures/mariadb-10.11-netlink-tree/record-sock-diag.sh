#!/bin/bash
# The SOCK_DIAG_RECORDER for ../mariadb-10.11-proc-tree/record.sh: `record-sock-diag.sh PID PORT
# FILE` keeps in FILE the sock_diag conversation of list's kernel read of mysqld PID on PORT
# (the gated SockDiagRecorder test of the built package, so no SQL session is added). Run as
# root after `swift build --build-tests`:
#   SOCK_DIAG_RECORDER=$PWD/record-sock-diag.sh ../mariadb-10.11-proc-tree/record.sh BIN $PWD
set -euo pipefail
cd "$(dirname "$0")/../../../.."
MYCONN_RECORD_SOCK_DIAG="$1 $2 $3" swift test --skip-build --filter SockDiagRecorder >/dev/null
test -s "$3"
