# Shared by scripts/demo.sh, scripts/test.sh and bench/: dependency checks and a throwaway mariadbd.
# Source it; it defines functions only.

# need_packages CMD:PACKAGE ... — installs the Debian packages whose command is missing when
# root, else prints the exact install line and exits 1.
need_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if [ "${cmd#pkg-config-}" != "$cmd" ]; then
            command -v pkg-config >/dev/null && pkg-config --exists "${cmd#pkg-config-}" && continue
        elif [ -x "$cmd" ] || command -v "$cmd" >/dev/null 2>&1; then
            continue
        fi
        missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    # De-duplicate, keep order.
    local uniq=() p seen=" "
    for p in "${missing[@]}"; do case "$seen" in *" $p "*) ;; *) uniq+=("$p"); seen="$seen$p ";; esac; done
    if [ "$(id -u)" -eq 0 ]; then
        echo "myconn: installing ${uniq[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${uniq[@]}" >/dev/null ||
            { echo "myconn: apt-get install ${uniq[*]} failed" >&2; exit 1; }
        # The package may start a system mariadbd; ours are throwaway servers of their own.
    else
        echo "myconn: missing packages; run:  sudo apt-get install -y ${uniq[*]}" >&2
        exit 1
    fi
}

need_swift() {
    command -v swift >/dev/null || {
        echo "myconn: no 'swift' on PATH; install Swift 6 (swift.org) and put its usr/bin on PATH" >&2
        exit 1
    }
}

# Packages the build and every test need.
need_build_and_test_packages() {
    need_packages pkg-config-libmariadb:libmariadb-dev pkg-config-ncursesw:libncurses-dev pkg-config-libnftables:libnftables-dev \
        pkg-config-libnetfilter_queue:libnetfilter-queue-dev pkg-config:pkg-config nft:nftables iptables:iptables \
        /usr/sbin/mariadbd:mariadb-server /usr/bin/mariadb-install-db:mariadb-server \
        /usr/bin/mariadb:mariadb-client ss:iproute2 ip:iproute2 \
        unshare:util-linux nsenter:util-linux runuser:util-linux strace:strace tmux:tmux \
        pt-kill:percona-toolkit curl:curl prometheus:prometheus promtool:prometheus \
        /usr/lib/python3/dist-packages/yaml:python3-yaml /usr/lib/python3/dist-packages/jsonschema:python3-jsonschema
}

# need_bench_root WHY — what a root-only benchmark needs: Swift, the build and test packages,
# and root (WHY says for what); ends the script otherwise.
need_bench_root() {
    need_swift
    need_build_and_test_packages
    [ "$(id -u)" -eq 0 ] || { echo "bench: run as root ($1)" >&2; exit 1; }
}

# free_port — a loopback TCP port no socket uses now, in any state, below the kernel's ephemeral
# range: a benchmark's thousands of client ends (and their TIME-WAIT) take ports from that range,
# and a server port picked there can be taken by one (mariadbd then fails: address in use).
free_port() {
    local p low
    low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    while :; do
        p=$(( (RANDOM % (low - 10000)) + 10000 ))
        ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# start_mariadbd DIR [mariadbd options...] — a throwaway server in DIR, loopback only; sets
# MYSQLD_PORT, MYSQLD_SOCKET, MYSQLD_PID. Stop it with stop_mariadbd DIR.
start_mariadbd() {
    local dir=$1; shift
    MYSQLD_PORT=$(free_port)
    MYSQLD_SOCKET=$dir/mysqld.sock
    mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
        --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; return 1; }
    /usr/sbin/mariadbd --no-defaults --datadir="$dir/data" --port="$MYSQLD_PORT" --socket="$MYSQLD_SOCKET" \
        --user=root --bind-address=127.0.0.1,::1 --skip-name-resolve --pid-file="$dir/mysqld.pid" \
        --log-error="$dir/error.log" --innodb-buffer-pool-size=16M --table-open-cache=64 "$@" &
    local i
    for i in $(seq 1 300); do
        [ -S "$MYSQLD_SOCKET" ] && [ -s "$dir/mysqld.pid" ] && break
        sleep 0.05
    done
    [ -S "$MYSQLD_SOCKET" ] || { echo "myconn: mariadbd did not start:" >&2; tail -20 "$dir/error.log" >&2; return 1; }
    MYSQLD_PID=$(cat "$dir/mysqld.pid")
    mariadb --no-defaults -uroot -S "$MYSQLD_SOCKET" -e "DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES"
}

stop_mariadbd() {
    local dir=$1 pid
    [ -s "$dir/mysqld.pid" ] || return 0
    pid=$(cat "$dir/mysqld.pid")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
}

# bench_release_build REPO — the static release build the benchmarks time, in
# $MYCONN_BENCH_SCRATCH (default REPO/.build, where CI builds it once for all of them; another
# scratch path lets a benchmark run while a debug build goes on in .build). Sets BENCH_BIN.
bench_release_build() {
    local scratch=${MYCONN_BENCH_SCRATCH:-$1/.build}
    swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product myconn >&2
    swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product myconn-demo-clients >&2
    BENCH_BIN=$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)
}

# start_mariadbd_for_sessions DIR N... — start_mariadbd sized for the largest N client sessions
# (connections, open files, a small thread stack); raises this shell's descriptor limit to the hard
# one, and ends the script when even that is too low.
start_mariadbd_for_sessions() {
    local dir=$1 n max=0; shift
    for n in "$@"; do [ "$n" -gt "$max" ] && max=$n; done
    ulimit -n "$(ulimit -Hn)"
    # Each session needs a descriptor in mysqld and one in the client process.
    local need=$((max + 200))
    [ "$(ulimit -n)" -ge "$need" ] || { echo "bench: $max sessions need $need descriptors; the hard limit is $(ulimit -Hn)" >&2; exit 1; }
    start_mariadbd "$dir" --max-connections=$((max + 100)) --open-files-limit="$(ulimit -Hn)" --table-open-cache=64 --thread-stack=192K
}

# start_idle_clients BIN WORK N — N idle sessions, half over 127.0.0.1 and half over ::1, from one
# myconn-demo-clients process (BIN its directory) on the server start_mariadbd made; they are held
# until fd 3, a fifo in WORK, is closed. Sets CLIENTS_PID; returns once every session is ready.
start_idle_clients() {
    local bin=$1 work=$2 n=$3
    local fifo=$work/in.$n
    mkfifo "$fifo"
    "$bin/myconn-demo-clients" --port "$MYSQLD_PORT" --socket "$MYSQLD_SOCKET" \
        --sessions "tcp4:idle:$((n / 2))" --sessions "tcp6:idle:$((n - n / 2))" \
        <"$fifo" >"$work/clients.$n" &
    CLIENTS_PID=$!
    exec 3>"$fifo"
    until grep -q '^ready$' "$work/clients.$n" 2>/dev/null; do
        kill -0 "$CLIENTS_PID" 2>/dev/null || { echo "bench: clients failed at N=$n" >&2; exit 1; }
        sleep 0.2
    done
}

# --- Docker (issue 9) ------------------------------------------------------------------------

# need_docker_packages — dockerd, debootstrap and docker-compose (v1) from Debian's packages.
need_docker_packages() {
    need_packages dockerd:docker.io debootstrap:debootstrap docker-compose:docker-compose
}

# start_dockerd_if_needed LOG — starts dockerd when none answers; sets MYCONN_STARTED_DOCKERD to
# its pid when this call started it (stop it with stop_dockerd_if_started), else to "".
start_dockerd_if_needed() {
    MYCONN_STARTED_DOCKERD=""
    docker version >/dev/null 2>&1 && return 0
    dockerd >"$1" 2>&1 &
    MYCONN_STARTED_DOCKERD=$!
    local i
    for i in $(seq 1 150); do
        docker version >/dev/null 2>&1 && return 0
        kill -0 "$MYCONN_STARTED_DOCKERD" 2>/dev/null || break
        sleep 0.2
    done
    echo "myconn: dockerd did not answer within 30 s:" >&2
    tail -20 "$1" >&2
    return 1
}

stop_dockerd_if_started() {
    [ -n "${MYCONN_STARTED_DOCKERD:-}" ] || return 0
    kill "$MYCONN_STARTED_DOCKERD" 2>/dev/null || return 0
    local i
    for i in $(seq 1 100); do kill -0 "$MYCONN_STARTED_DOCKERD" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$MYCONN_STARTED_DOCKERD" 2>/dev/null || true
}

# debian_mirror — the Debian mirror this host's apt uses (deb822 or one-line sources).
debian_mirror() {
    local m
    m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
    [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
    echo "${m:-http://deb.debian.org/debian}"
}

# local_debian_base SUITE — makes debian:SUITE-slim with debootstrap when the engine has no such
# image (none can be pulled here), saying so in one line; a no-op when the image exists.
local_debian_base() {
    local suite=$1 tag="debian:$1-slim" dir
    docker image inspect "$tag" >/dev/null 2>&1 && return 0
    echo "myconn: no $tag image here; making it locally with debootstrap (about a minute)" >&2
    dir=$(mktemp -d /tmp/myconn-debootstrap.XXXXXX)
    debootstrap --variant=minbase "$suite" "$dir" "$(debian_mirror)" >"$dir.log" 2>&1 ||
        { tail -20 "$dir.log" >&2; rm -rf "$dir" "$dir.log"; return 1; }
    tar -C "$dir" -c . | docker import - "$tag" >/dev/null || { rm -rf "$dir" "$dir.log"; return 1; }
    rm -rf "$dir" "$dir.log"
}
