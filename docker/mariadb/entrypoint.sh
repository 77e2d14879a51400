#!/bin/sh
# Starts mariadbd as the container's main process (pid 1: what --container and a sidecar with
# pid: "service:db" find). First start: a data directory, and a TCP user for clients outside the
# container (MYCONN_TEST_USER / MYCONN_TEST_PASSWORD, default test/test); root logs in through
# the unix socket (Debian's unix_socket authentication). HOST in the processlist stays an address
# (skip-name-resolve), so that sessions join exactly.
set -eu
user=${MYCONN_TEST_USER:-test}
password=${MYCONN_TEST_PASSWORD:-test}
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
# Debian's package made /var/lib/mysql at install time; the TCP user is ours to add, once.
if [ ! -e /var/lib/mysql/.myconn-test-user ]; then
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    i=0
    until mariadb --socket=/run/mysqld/init.sock -e 'SELECT 1' >/dev/null 2>&1; do
        i=$((i + 1)); [ "$i" -lt 300 ] || { echo "mariadbd did not start" >&2; exit 1; }
        sleep 0.1
    done
    mariadb --socket=/run/mysqld/init.sock -e "CREATE USER '$user'@'%' IDENTIFIED BY '$password'; GRANT ALL ON *.* TO '$user'@'%'; FLUSH PRIVILEGES"
    kill "$pid"
    wait "$pid" || true
    touch /var/lib/mysql/.myconn-test-user
fi
exec mariadbd --user=mysql --bind-address=0.0.0.0 --skip-name-resolve --socket=/run/mysqld/mysqld.sock "$@"
