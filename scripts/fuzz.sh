#!/usr/bin/env bash
# libFuzzer on myconn's parsers and writers (Sources/myconn-fuzz): builds them with the toolchain's
# -sanitize=fuzzer,address (scratch path .build-fuzz), seeds each target's corpus from the recorded
# fixtures (Tests/*/Fixtures) and the kept findings (Tests/Fuzz/findings/TARGET), runs each target,
# and prints its executions, time, and what it found. A crash, a hang (-timeout) or an
# AddressSanitizer report leaves its input in $MYCONN_FUZZ_WORK/artifacts and fails the run:
# copy it to Tests/Fuzz/findings/TARGET/ once fixed, so the tests replay it.
#
#   scripts/fuzz.sh [--runs N | --seconds S] [TARGET...]    (default: --runs 10000000, every target)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_swift
need_build_and_test_packages
runs=10000000
seconds=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        -h|--help) sed -n 2,9p "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
        *) targets+=("$1"); shift ;;
    esac
done
cd "$here"
# lld: gold fails on libFuzzer's main beside SwiftPM's renamed one (an internal error); the
# toolchain's lld keeps ours, which calls libFuzzer's driver (Sources/myconn-fuzz/Entry.swift).
flags=(--scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld)
swift build "${flags[@]}" --product myconn-fuzz >&2
bin=$(swift build "${flags[@]}" --show-bin-path)/myconn-fuzz
all="proc-net-tcp proc-net-unix proc-fd-link proc-syscall proc-status proc-stat inet-diag unix-diag processlist-host endpoint json-string terminal-escape"
[ ${#targets[@]} -eq 0 ] && read -r -a targets <<< "$all"
work=${MYCONN_FUZZ_WORK:-$(mktemp -d /tmp/myconn-fuzz.XXXXXX)}
mkdir -p "$work/artifacts"

# The seeds: recorded fixtures, as each target reads them.
seed() {  # seed TARGET FILE... : copies each file into the target's corpus
    local t=$1; shift
    mkdir -p "$work/corpus/$t"
    for f in "$@"; do [ -f "$f" ] && cp "$f" "$work/corpus/$t/$(echo "$f" | tr '/' '_')"; done
    return 0
}
fixtures=$(find Tests -path '*Fixtures*' -type f)
mkdir -p "$work/corpus/proc-net-tcp"
for f in $(echo "$fixtures" | grep -E '(/net/tcp6?$|net-tcp6?$|seed-net-tcp)'); do
    # The first byte picks the family: even tcp4, odd tcp6.
    case "$f" in *6) family='\x01' ;; *) family='\x00' ;; esac
    { printf "$family"; cat "$f"; } > "$work/corpus/proc-net-tcp/$(echo "$f" | tr '/' '_')"
done
seed proc-net-unix $(echo "$fixtures" | grep -E '(/net/unix$|net-unix$)')
mkdir -p "$work/corpus/proc-fd-link"
find Tests -path '*Fixtures*' -path '*/fd/*' -type l | while read -r l; do
    readlink "$l" > "$work/corpus/proc-fd-link/$(echo "$l" | tr '/' '_')"
done
seed proc-fd-link Tests/ProcFSTests/Fixtures/fd-link-forms
seed proc-syscall $(echo "$fixtures" | grep -E '(/syscall$|task-syscall)' | head -200)
seed proc-status $(echo "$fixtures" | grep -E '(/status$|/status-)' | head -200)
seed proc-stat $(echo "$fixtures" | grep -E '(/stat$|proc-stat)' | head -200)
seed inet-diag $(echo "$fixtures" | grep -E '\.sockdiag$')
seed unix-diag $(echo "$fixtures" | grep -E 'unix.*\.sockdiag$')
# reap --test-matching's recordings (list --json documents, processlist tables) and any JSON.
seed reap-recording Tests/MyConnCoreTests/Fixtures/reap/*
seed json-syntax $(echo "$fixtures" | grep -E '\.jsonl?$' | head -200)
# HOST values and typed endpoints from the recorded list --json documents, plus the forms people type.
python3 - "$work/corpus" $(echo "$fixtures" | grep -E '\.json$') <<'EOF'
import json, os, sys
out, files = sys.argv[1], sys.argv[2:]
hosts, texts = set(), set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("host", "peer", "local") and isinstance(x, str): hosts.add(x)
            if k in ("info", "user", "db", "state") and isinstance(x, str): texts.add(x)
            walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
for f in files:
    try:
        with open(f) as h: walk(json.load(h))
    except Exception:
        pass
hosts |= {"127.0.0.1:3306", "::1:40000", "::ffff:10.1.2.3:5", "localhost", "db-1.example:3306", "[::1]:3306", "10.0.0.1:65536"}
texts |= {"SELECT 1", "\x1b[2J\x1b]0;title\x07", "a\u202eb", "\\x1B", "\u0000\u009f\u2066"}
for target, items in (("processlist-host", hosts), ("endpoint", hosts), ("json-string", texts), ("terminal-escape", texts)):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    for i, x in enumerate(sorted(items)):
        with open(os.path.join(out, target, "seed-%d" % i), "w", encoding="utf-8", errors="surrogateescape") as h: h.write(x)
EOF

status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t"
    findings=Tests/Fuzz/findings/$t
    dirs=("$work/corpus/$t")
    [ -d "$findings" ] && dirs+=("$findings")
    limit=("-runs=$runs")
    [ -n "$seconds" ] && limit=("-max_total_time=$seconds")
    log="$work/$t.log"
    set +e
    MYCONN_FUZZ_TARGET=$t "$bin" "${dirs[@]}" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" > "$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE 'in [0-9]+' | grep -oE '[0-9]+' || echo "?")
    found=$(ls "$work/artifacts" | grep -c "^$t-" || true)
    echo "fuzz: $t: $execs executions in ${secs} s, corpus $(ls "$work/corpus/$t" | wc -l) inputs, findings $found, exit $rc"
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        status=1
        grep -E 'ERROR|SUMMARY|Fatal error|deadly signal|timeout' "$log" | head -5 >&2 || true
    fi
done
echo "fuzz: work directory $work (corpora, logs, artifacts)"
exit $status
