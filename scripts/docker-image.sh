#!/usr/bin/env bash
# Builds the myconn image (docker/Dockerfile: the static release binary and libmariadb3) and,
# with --mariadb, the MariaDB test image (docker/mariadb/). Where the base cannot be pulled, it is
# made locally first (debootstrap, about a minute), and the script says so in one line.
#   scripts/docker-image.sh [TAG]                         default myconn:latest
#   scripts/docker-image.sh --mariadb [SUITE [TAG]]       default bookworm, myconn-test-mariadb:SUITE
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_docker_packages
docker version >/dev/null 2>&1 || { echo "myconn: no Docker engine answers; start one (dockerd &) or run scripts/test.sh, which does" >&2; exit 1; }
if [ "${1:-}" = "--mariadb" ]; then
    suite=${2:-bookworm}
    tag=${3:-myconn-test-mariadb:$suite}
    local_debian_base "$suite"
    docker build -q --build-arg "BASE=debian:$suite-slim" -t "$tag" "$here/docker/mariadb" >/dev/null
    echo "$tag"
    exit 0
fi
tag=${1:-myconn:latest}
need_swift
need_build_and_test_packages
cd "$here"
swift build -c release --static-swift-stdlib --product myconn >&2
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
local_debian_base bookworm
ctx=$(mktemp -d /tmp/myconn-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp "$bin/myconn" "$ctx/myconn"
strip "$ctx/myconn" 2>/dev/null || true
docker build -q -t "$tag" -f "$here/docker/Dockerfile" "$ctx" >/dev/null
echo "$tag"
