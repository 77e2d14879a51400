#!/bin/bash
# Records this fixture set from MariaDB 11.8 (Debian 13's packages), which no host here runs:
# ../mariadb-10.11-proc-tree/record.sh and ../mariadb-10.11-netlink-tree/record-sock-diag.sh run
# unchanged inside a container of the MariaDB 11.8 test image (docker/mariadb/, BASE
# debian:trixie-slim), with the static release builds of myconn and myconn-demo-clients mounted.
# The pids, /proc and the network namespace recorded are the container's own. Run as root with a
# Docker engine answering (scripts/test.sh's helpers start one):
#   scripts/docker-image.sh --mariadb trixie
#   swift build -c release --static-swift-stdlib --product myconn-demo-clients
#   swift build -c release --static-swift-stdlib --product myconn
#   Tests/MyConnCoreTests/Fixtures/mariadb-11.8-netlink-tree/record-in-container.sh
# A derived image adds python3 and iproute2 (record.sh's free_port and the ss oracle) from
# Debian's mirror; the recording container has no network but its own loopback (IPv6 on, for
# the tcp6 session), and is removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
bin=$(cd "$repo" && swift build -c release --static-swift-stdlib --show-bin-path)
image=${IMAGE:-myconn-test-mariadb:trixie}
test -x "$bin/myconn" && test -x "$bin/myconn-demo-clients"
recorder=myconn-fixture-recorder:trixie
printf 'FROM %s\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 iproute2 && rm -rf /var/lib/apt/lists/*\n' "$image" |
    docker build -q -t $recorder - >/dev/null
docker run --rm --cap-add SYS_PTRACE --network none --sysctl net.ipv6.conf.all.disable_ipv6=0 --entrypoint /bin/bash \
    -v "$repo:/src" -v "$bin:/myconn-bin:ro" -e MYCONN=/myconn-bin/myconn -e TRIM_TCP=1 \
    -e SOCK_DIAG_RECORDER=/src/Tests/MyConnCoreTests/Fixtures/mariadb-10.11-netlink-tree/record-sock-diag.sh \
    $recorder -c '
        set -e
        /src/Tests/MyConnCoreTests/Fixtures/mariadb-10.11-proc-tree/record.sh /myconn-bin /src/Tests/MyConnCoreTests/Fixtures/mariadb-11.8-netlink-tree
        chown -R '"$(stat -c %u:%g "$here")"' /src/Tests/MyConnCoreTests/Fixtures/mariadb-11.8-netlink-tree'
