#!/usr/bin/env bash
# What `myconn reap` costs beside pt-kill, in one run, on a throwaway mariadbd holding N idle
# client sessions (half over 127.0.0.1, half over ::1, from one client process):
#   one cycle   myconn reap --print --busy-time 3600 --cycles 1: one snapshot (the list join) and
#               one decision; nothing matches (the sessions are idle), so nothing else is timed
#   one pass    pt-kill --run-time 1 --interval 1 --busy-time 3600 --print: one SHOW FULL
#               PROCESSLIST and one decision, then pt-kill's fixed sleep (below)
#   reaper      myconn reap --print --busy-time 3600 --interval 5 --run-time 30 at the largest N:
#               its CPU (user + system) over its wall time, as a share of one core
# Target: the reaper every 5 s at 10,000 sessions under 5 % of one core. One cycle beside one
# pass has no target: the ratios are printed.
#
#   bench/reap.sh [N ...]                             default: 1000 10000
#
# pt-kill's sleep. Its main loop (`while (!$run_time || $now < $end)` in pt_kill::main) checks
# the processlist, then `sleep $o->get('interval')` (core sleep: that package does not import
# Time::HiRes's), then `$now = time()` (core time, whole seconds): with --run-time 1 --interval 1,
# $end is the start's whole second + 1, and after one pass and `sleep 1` $now has reached it, so
# pt-kill makes exactly one pass and one 1 s sleep, whatever the pass costs (an --interval of 0
# would make as many passes as fit in the second). The script measures that sleep (strace -T of
# pt-kill's nanosleeps, once, before the clients start, when it also checks there is one) and
# subtracts it from pt-kill's median: "pt-kill -sleep" is what its pass costs, process start,
# Perl's compile of the tool, the DBI login and the exit included, as myconn's figure includes
# its own. The sleep takes no CPU, so pt-kill's CPU is not corrected. pt-kill also gets
# --no-version-check (Debian's /etc/percona-toolkit sets it already; a version check would
# reach for the network once a day) and a --sentinel file of this run's own, so that someone's
# /tmp/pt-kill-sentinel cannot make it skip its pass.
#
# Wall: hyperfine -N medians (warm-up 3, at least 10 runs). CPU: hyperfine's user + system
# (means over the same runs; getrusage of each run). Ratios are myconn / pt-kill, the wall one
# against pt-kill minus its sleep.
#
# The reaper's share: the whole process under /usr/bin/time (from exec to exit: process start,
# argument parsing, the login and the server's first answer included, paid once per run as a
# reaper started by systemd pays them once) in the background; CPU seconds / wall seconds. It
# makes a cycle at 0, 5, ... 25 s and stops there (no cycle would start before 30 s), so the
# figure is 6 cycles over about 25 s, a little above the steady state of one cycle every 5 s
# (the script counts the cycles: one SHOW PROCESSLIST each, Com_show_processlist). The line
# below it estimates that steady state: the reaper's CPU less the one-cycle run's (start, login
# and a cycle), over the other 5 cycles, per 5 s.
# mysqld's CPU over the same window (/proc/PID/stat, its idle background included) is printed
# beside it: answering the processlist is paid there.
#
# Sanity, at each N, not timed: the timed myconn command printed nothing (matched no session);
# both tools see the sessions, each printing one line per idle session with a rule that
# matches them all (--idle-time 1 --victims all; pt-kill's --idle-time 0 is false in Perl and
# matches nothing) and exiting 0.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_swift
need_build_and_test_packages
need_packages hyperfine:hyperfine /usr/bin/time:time strace:strace pt-kill:percona-toolkit
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (mariadbd as root, /proc/<pid>/fd)" >&2; exit 1; }
cd "$here"
bench_release_build "$here"
bin=$BENCH_BIN
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)

work=$(mktemp -d /tmp/myconn-bench.XXXXXX)
chmod 755 "$work"
clients=""
reaper=""  # /usr/bin/time's pid
reaped=""  # the reaper's
cleanup() {
    [ -z "$reaped" ] || kill "$reaped" 2>/dev/null || true
    [ -z "$reaper" ] || kill "$reaper" 2>/dev/null || true
    [ -n "$clients" ] && kill "$clients" 2>/dev/null
    stop_mariadbd "$work"
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
start_mariadbd_for_sessions "$work" "${sizes[@]}"
max=0; for n in "${sizes[@]}"; do [ "$n" -gt "$max" ] && max=$n; done

median_ms() {  # CSV [ROW]: hyperfine CSV (command,mean,stddev,median,user,system,...), ROW-th command
    awk -F, -v row="${2:-1}" 'NR == row + 1 { printf "%.1f", $4 * 1000 }' "$1"
}
cpu_ms() {  # CSV [ROW]: mean user + system of the ROW-th command
    awk -F, -v row="${2:-1}" 'NR == row + 1 { printf "%.1f", ($5 + $6) * 1000 }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
time_one() {  # CSV NAME COMMAND [RUNS [WARMUP]]: one hyperfine session; default at least 10 runs, warm-up 3
    local runs=(--min-runs 10)
    [ -z "${4:-}" ] || runs=(--runs "$4")
    # Its warnings (outliers on a busy machine) would break up the table: shown only on failure.
    hyperfine -N --warmup "${5:-3}" "${runs[@]}" --export-csv "$1" -n "$2" "$3" >/dev/null 2>"$work/hyperfine.err" ||
        { cat "$work/hyperfine.err" >&2; echo "bench: hyperfine failed on: $3" >&2; exit 1; }
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime + stime (fields after "(comm)" hold no spaces here)
processlists() {  # SHOW PROCESSLIST statements the server has run: one per reap cycle (MariaDB), pt-kill pass
    mariadb --no-defaults -uroot -S "$MYSQLD_SOCKET" -N -e "SHOW GLOBAL STATUS LIKE 'Com_show_processlist'" | awk '{ print $2 }'
}
sleeping() {  # sessions in Sleep, other than this query's own
    mariadb --no-defaults -uroot -S "$MYSQLD_SOCKET" -N -e \
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Sleep' AND ID <> CONNECTION_ID()"
}

reap=("$bin/myconn" reap --print --busy-time 3600 --no-defaults -uroot -S "$MYSQLD_SOCKET")
ptkill=(pt-kill --no-version-check --sentinel "$work/pt-kill-sentinel" --run-time 1 --interval 1 --print
    --socket "$MYSQLD_SOCKET" --user root)

# pt-kill's sleep, at no client session: every nanosleep of one pass, with the time spent in it.
strace -f -T -e trace=nanosleep,clock_nanosleep -o "$work/pt-kill.strace" "${ptkill[@]}" --busy-time 3600 >/dev/null
# The loop's `sleep 1` asks for {tv_sec=1, tv_nsec=0}; libmariadb's usleep(1) in the login is
# part of the pass.
sleeps=$(grep -c 'nanosleep(.*{tv_sec=1, tv_nsec=0}' "$work/pt-kill.strace" || true)
[ "$sleeps" -eq 1 ] || { cat "$work/pt-kill.strace" >&2; echo "bench: pt-kill slept 1 s $sleeps times in one run, expected once" >&2; exit 1; }
sleep_ms=$(sed -nE 's/.*nanosleep\(.*\{tv_sec=1, tv_nsec=0\}.*<([0-9.]+)>$/\1/p' "$work/pt-kill.strace" | awk '{ printf "%.1f", $1 * 1000 }')
others_ms=$(grep 'nanosleep(' "$work/pt-kill.strace" | grep -v '{tv_sec=1, tv_nsec=0}' |
    sed -nE 's/.*<([0-9.]+)>$/\1/p' | awk '{ s += $1 } END { printf "%d, %.2f ms in all", NR, s * 1000 }')
time_one "$work/pt0.csv" pt-kill "${ptkill[*]} --busy-time 3600" 5 1
pt0=$(median_ms "$work/pt0.csv")
echo "pt-kill's fixed sleep: one nanosleep of $sleep_ms ms per run (strace -T; --run-time 1 --interval 1: one pass, sleep 1, exit; its other sleeps, left in the pass: $others_ms)"
echo "pt-kill at 0 client sessions: $pt0 ms (median of 5), $(minus "$pt0" "$sleep_ms") ms without the sleep"
echo "medians in ms; CPU = user + system, ms per run (mean); ratios myconn / pt-kill (wall: against pt-kill -sleep)"
fmt='%-6s %9s %11s %12s %14s %12s %11s %10s'
# shellcheck disable=SC2059
printf "$fmt\n" "N" "myconn" "myconn CPU" "pt-kill raw" "pt-kill -sleep" "pt-kill CPU" "wall ratio" "CPU ratio"
rows=()
sanity=()

for n in "${sizes[@]}"; do
    if [ -n "$clients" ]; then
        kill "$clients"; wait "$clients" 2>/dev/null || true; clients=""
        # The last size's sessions must be gone, or this size's counts and times are off.
        until [ "$(sleeping)" -eq 0 ]; do sleep 0.2; done
    fi
    start_idle_clients "$bin" "$work" "$n"
    clients=$CLIENTS_PID
    others=$(( $(ss -tanH exclude time-wait | wc -l) - 2 * n - 10 ))
    [ "$others" -le 100 ] || echo "bench: warning: about $others other TCP sockets in this namespace make the kernel read slower; figures not comparable" >&2
    sleep 1.1  # every session idle for 1 s or more: --idle-time 1 then matches them all
    got=$(sleeping)
    [ "$got" -eq "$n" ] || { echo "bench: $got sessions in Sleep, expected $n" >&2; exit 1; }

    c0=$(processlists)
    out=$("${reap[@]}" --cycles 1) || { echo "bench: myconn reap failed at N=$n" >&2; exit 1; }
    per_cycle=$(( $(processlists) - c0 ))
    [ "$per_cycle" -ge 1 ] || { echo "bench: myconn reap's cycle ran no SHOW PROCESSLIST; the reaper's cycles cannot be counted" >&2; exit 1; }
    [ -z "$out" ] || { echo "$out" | head -5 >&2; echo "bench: myconn reap --busy-time 3600 matched sessions at N=$n" >&2; exit 1; }
    mine=$("$bin/myconn" reap --print --idle-time 1 --victims all --cycles 1 --no-defaults -uroot -S "$MYSQLD_SOCKET" |
        grep -c ' matched session ' || true)
    [ "$mine" -eq "$n" ] || { echo "bench: myconn reap --idle-time 1 --victims all matched $mine sessions, expected $n" >&2; exit 1; }
    theirs=$("${ptkill[@]}" --idle-time 1 --victims all | grep -c '^# .* KILL [0-9]' || true)
    [ "$theirs" -eq "$n" ] || { echo "bench: pt-kill --idle-time 1 --victims all printed $theirs KILL lines, expected $n" >&2; exit 1; }
    sanity+=("N=$n: myconn reap --busy-time 3600 matched nothing; --idle-time 1 --victims all: myconn matched $mine, pt-kill printed $theirs KILL lines (both exit 0)")

    time_one "$work/myconn.$n.csv" myconn "${reap[*]} --cycles 1"
    time_one "$work/pt-kill.$n.csv" pt-kill "${ptkill[*]} --busy-time 3600"
    m=$(median_ms "$work/myconn.$n.csv"); mc=$(cpu_ms "$work/myconn.$n.csv")
    p=$(median_ms "$work/pt-kill.$n.csv"); pc=$(cpu_ms "$work/pt-kill.$n.csv")
    ps=$(minus "$p" "$sleep_ms")
    # shellcheck disable=SC2059
    printf "$fmt\n" "$n" "$m" "$mc" "$p" "$ps" "$pc" "$(ratio "$m" "$ps")" "$(ratio "$mc" "$pc")"

    if [ "$n" -eq "$max" ]; then
        # The reaper last, at the largest N, while its sessions are still held.
        c0=$(processlists); t0=$(ticks "$MYSQLD_PID"); w0=${EPOCHREALTIME/./}
        /usr/bin/time -f '%e %U %S' -o "$work/reaper.time" "${reap[@]}" --interval 5 --run-time 30 >"$work/reaper.out" &
        reaper=$!
        # Cleanup stops myconn itself: /usr/bin/time's death would leave it running to its end.
        until reaped=$(pgrep -P "$reaper"); do kill -0 "$reaper" 2>/dev/null || break; sleep 0.01; done
        wait "$reaper" || { echo "bench: the reaper failed" >&2; exit 1; }
        reaper=""; reaped=""
        w1=${EPOCHREALTIME/./}; t1=$(ticks "$MYSQLD_PID"); cycles=$(( ($(processlists) - c0) / per_cycle ))
        [ ! -s "$work/reaper.out" ] || { head -5 "$work/reaper.out" >&2; echo "bench: the reaper matched sessions" >&2; exit 1; }
        [ "$cycles" -eq 6 ] || echo "bench: warning: the reaper made $cycles cycles, expected 6" >&2
        share=$(awk -v hz="$(getconf CLK_TCK)" -v t="$((t1 - t0))" -v w="$((w1 - w0))" \
            '{ printf "%.2f s CPU (%.2f user, %.2f system) in %.2f s = %.2f %% of one core; mysqld meanwhile %.2f s CPU = %.2f %%", $2 + $3, $2, $3, $1, 100 * ($2 + $3) / $1, t / hz, 100 * t / hz / (w / 1e6) }' \
            "$work/reaper.time")
        pct=$(awk '{ printf "%.2f", 100 * ($2 + $3) / $1 }' "$work/reaper.time")
        # Without the start: the one-cycle run's CPU is start, login and one cycle.
        steady=$(awk -v one="$mc" -v c="$cycles" '{ x = (($2 + $3) * 1000 - one) / (c - 1); printf "%.0f ms CPU per cycle = %.2f %% of one core", x, x / 50 }' "$work/reaper.time")
        rows+=("reaper every 5 s for 30 s at N=$n ($cycles cycles, counted by Com_show_processlist; process start and login included): $share")
        rows+=("  without the start (reaper CPU - one-cycle run's CPU, over the other $((cycles - 1)) cycles): $steady")
        if [ "$n" -ge 10000 ]; then
            rows+=("$(awk -v p="$pct" -v n="$n" 'BEGIN { printf "target: the reaper at N=%d under 5 %% of one core: %.2f %% %s", n, p, (p < 5 ? "ok" : "MISSED") }')")
        else
            rows+=("target: the reaper under 5 % of one core is at 10,000 sessions; this run's largest N is $n")
        fi
    fi
    exec 3>&-
done
printf '%s\n' "${rows[@]}"
echo "sanity:"; printf '  %s\n' "${sanity[@]}"
