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
cleanup() { pkill -f -- '--datadir=/tmp/myconn-test-' 2>/dev/null || true; }
trap cleanup EXIT
swift build --build-tests
log=$(mktemp /tmp/myconn-test-log.XXXXXX)
set +e
swift test --skip-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line: tests (Swift Testing, one line per test function) passed and failed.
passed=$(grep -cE '^✔ Test ".* passed after' "$log" || true)
failed=$(grep -cE '^✘ Test ".* failed after' "$log" || true)
rm -f "$log"
echo "tests: $passed passed, $failed failed"
exit "$status"
