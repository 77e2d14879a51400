# Shared by scripts/demo.sh, scripts/test.sh and bench/: dependency checks and a throwaway mariadbd.
# Source it; it defines functions only.

# need_packages CMD:PACKAGE ... — installs the Debian packages whose command is missing when
# root, else prints the exact install line and exits 1.
need_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if [ "$cmd" = "pkg-config-libmariadb" ]; then
            command -v pkg-config >/dev/null && pkg-config --exists libmariadb && continue
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
    need_packages pkg-config-libmariadb:libmariadb-dev pkg-config:pkg-config \
        /usr/sbin/mariadbd:mariadb-server /usr/bin/mariadb-install-db:mariadb-server \
        /usr/bin/mariadb:mariadb-client ss:iproute2 ip:iproute2 \
        unshare:util-linux nsenter:util-linux runuser:util-linux strace:strace
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
