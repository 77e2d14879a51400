#!/usr/bin/env bash
# Every test: unit tests on recorded fixtures and integration tests against real, throwaway
# mariadbd servers (each test starts and stops its own). Installs what is missing when root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_swift
need_build_and_test_packages
cd "$here"
# Servers a crashed test run may have left behind are ours to stop: they live in myconn-test-* dirs.
# Containers the Docker suite made are named myconn-test-*; a dockerd this script started stops.
cleanup() {
    pkill -f -- '--datadir=/tmp/myconn-test-' 2>/dev/null || true
    if command -v docker >/dev/null && docker version >/dev/null 2>&1; then
        docker ps -aq --filter name=myconn-test- | xargs -r docker rm -f >/dev/null 2>&1 || true
    fi
    stop_dockerd_if_started
}
trap cleanup EXIT
# The Docker suite (root): a real dockerd (started here when none answers) and the MariaDB test
# images built from docker/mariadb/ on local Debian bases (made with debootstrap the first time,
# about a minute each; cached by the engine after that).
if [ "$(id -u)" -eq 0 ]; then
    need_docker_packages
    start_dockerd_if_needed /tmp/myconn-test-dockerd.log
    images=""
    for suite in bookworm trixie; do images="$images $(bash "$here/scripts/docker-image.sh" --mariadb "$suite")"; done
    export MYCONN_TEST_MARIADB_IMAGES="${images# }"
    MYCONN_TEST_IMAGE=$(bash "$here/scripts/docker-image.sh" myconn:test)
    export MYCONN_TEST_IMAGE
    echo "test.sh: the package check and the Docker set-up took ${SECONDS} s"
fi
started=$SECONDS
swift build --build-tests
echo "test.sh: the debug build took $((SECONDS - started)) s"
started=$SECONDS
log=$(mktemp /tmp/myconn-test-log.XXXXXX)
set +e
swift test --skip-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line: tests (Swift Testing, one line per test function) passed and failed.
passed=$(grep -cE '^✔ Test ".* passed after' "$log" || true)
failed=$(grep -cE '^✘ Test ".* failed after' "$log" || true)
rm -f "$log"
echo "test.sh: the tests took $((SECONDS - started)) s"
echo "tests: $passed passed, $failed failed"
exit "$status"
