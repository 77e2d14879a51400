#!/usr/bin/env python3
"""The soak's driver (bench/soak.sh starts the server and calls this): held sessions that each read
back a secret of their own in every query, churn from two real client libraries, and random cuts
through myconn, judged by this script's own oracle, never by myconn's output.

Held sessions (PyMySQL and mysql-connector-python, over 127.0.0.1, ::1 and the unix socket) set
@soak_secret at login and run `SELECT @soak_secret, CONNECTION_ID()` in a loop: a reply with
another secret or id is a row of another session (a wrong fd). A held session that fails without
having been targeted is a lost session. Each cut picks a method (kill, close --method
ptrace|pidfd|destroy, probe of a live client, fault with heal) and a way to name its target
(session id, --zombie client-gone on a session whose client went away mid-query, --pid with
--peer) at random; a cut's target must be gone from the processlist within 5 s. After every
ptrace cut and at the end, no mysqld thread may be traced or in tracing stop; at the end mysqld
must be the same process, answering, with its descriptor count back at the baseline.
"""
import argparse, json, os, random, socket, subprocess, sys, threading, time

import pymysql
import mysql.connector

USER, PASSWORD = "soak", "soak-pw"


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.notes = []

    def add(self, key, n=1, note=None):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n
            if note and len(self.notes) < 40:
                self.notes.append(note)

    def get(self, key):
        with self.lock:
            return self.counts.get(key, 0)


def connect(args, transport, library):
    if transport == "unix":
        where = {"unix_socket": args.socket}
    else:
        where = {"host": "127.0.0.1" if transport == "tcp4" else "::1", "port": args.port}
    if library == "pymysql":
        return pymysql.connect(user=USER, password=PASSWORD, read_timeout=60, write_timeout=60, **where)
    return mysql.connector.connect(user=USER, password=PASSWORD, use_pure=True, connection_timeout=60, **where)


def query(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    rows = cur.fetchall()
    cur.close()
    return rows


def text(v):
    return v.decode() if isinstance(v, (bytes, bytearray)) else str(v)


class Held(threading.Thread):
    """One held session, reconnecting (a new session, a new secret) after each cut of it."""

    def __init__(self, soak, index):
        super().__init__(daemon=True)
        self.soak, self.index = soak, index
        self.transport = ("tcp4", "tcp6", "unix", "tcp4", "tcp6")[index % 5]
        self.library = "pymysql" if index % 2 == 0 else "connector"
        self.lock = threading.Lock()
        self.session = None      # (id, client port or None) of the live session
        self.ready = threading.Event()

    def open(self):
        conn = connect(self.soak.args, self.transport, self.library)
        secret = "%d-%016x" % (self.index, random.getrandbits(64))
        query(conn, "SET @soak_secret = '%s'" % secret)
        sid = int(query(conn, "SELECT CONNECTION_ID()")[0][0])
        port = None
        if self.transport != "unix":
            sock = conn._sock if self.library == "pymysql" else conn._socket.sock
            port = sock.getsockname()[1]
        return conn, secret, sid, port

    def run(self):
        soak, tally = self.soak, self.soak.tally
        while not soak.stopping.is_set():
            try:
                conn, secret, sid, port = self.open()
            except Exception as e:
                tally.add("reconnect_errors", note="held %d: connect: %s" % (self.index, e))
                time.sleep(0.5)
                continue
            with self.lock:
                self.session = (sid, port)
            self.ready.set()
            while not soak.stopping.is_set():
                try:
                    got = query(conn, "SELECT @soak_secret, CONNECTION_ID()")
                    tally.add("queries")
                    if text(got[0][0]) != secret or int(got[0][1]) != sid:
                        tally.add("foreign_rows", note="held %d (session %d) read %r" % (self.index, sid, got))
                except Exception as e:
                    with self.lock:
                        self.session = None
                    if soak.was_cut(sid):
                        tally.add("cut_seen_by_client")
                    else:
                        tally.add("lost_untargeted", note="session %d (held %d, %s) failed untargeted: %s" % (sid, self.index, self.transport, e))
                    break
                time.sleep(random.uniform(0.2, 1.0))
            try:
                conn.close()
            except Exception:
                pass
        self.ready.set()

    def current(self):
        with self.lock:
            return self.session


class Churn(threading.Thread):
    """Connect, one query, disconnect, at about `rate` a second, through one library."""

    def __init__(self, soak, library, rate):
        super().__init__(daemon=True)
        self.soak, self.library, self.rate = soak, library, rate

    def run(self):
        n = 0
        start = time.monotonic()
        while not self.soak.stopping.is_set() and not self.soak.churn_stop.is_set():
            n += 1
            try:
                conn = connect(self.soak.args, ("tcp4", "tcp6", "unix")[n % 3], self.library)
                query(conn, "SELECT 1")
                conn.close()
                self.soak.tally.add("churn_sessions")
            except Exception as e:
                self.soak.tally.add("churn_errors", note="churn %s: %s" % (self.library, e))
            delay = start + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def zombie(args):
    """A session whose client sent a long query and went away: mysqld's end is in CLOSE_WAIT."""
    conn = pymysql.connect(user=USER, password=PASSWORD, host="127.0.0.1", port=args.port)
    sid = conn.thread_id()
    conn._execute_command(3, "SELECT SLEEP(600)")   # COM_QUERY, the reply never read
    conn._sock.shutdown(socket.SHUT_RDWR)
    conn._sock.close()
    return sid


class Soak:
    def __init__(self, args):
        self.args = args
        self.tally = Tally()
        self.stopping = threading.Event()
        self.churn_stop = threading.Event()
        self.cut_lock = threading.Lock()
        self.cut = set()
        self.busy = set()                    # held sessions a worker is acting on
        self.zombie_lock = threading.Lock()
        self.ptrace_lock = threading.Lock()  # one --zombie cut at a time: it takes every zombie
        self.local = threading.local()   # an admin connection per thread (one is not thread-safe)

    def was_cut(self, sid):
        with self.cut_lock:
            return sid in self.cut

    def mark_cut(self, sid):
        with self.cut_lock:
            self.cut.add(sid)

    @property
    def admin(self):
        if not hasattr(self.local, "admin"):
            self.local.admin = pymysql.connect(user="root", unix_socket=self.args.socket, autocommit=True)
        return self.local.admin

    def present(self, sid):
        return query(self.admin, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d" % sid)[0][0] > 0

    def myconn(self, *words):
        cmd = [self.args.myconn, *words, "-S", self.args.socket, "-u", "root", "--audit-log", self.args.audit_log]
        t = time.monotonic()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.tally.add("myconn_ms", int((time.monotonic() - t) * 1000))
        return p

    def traced_threads(self):
        bad = []
        for tid in os.listdir("/proc/%d/task" % self.args.pid):
            try:
                with open("/proc/%d/task/%s/status" % (self.args.pid, tid)) as f:
                    status = f.read()
            except OSError:
                continue
            fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
            if fields.get("TracerPid", "0").strip() != "0" or fields.get("State", "").strip().startswith("t"):
                bad.append(tid)
        return bad

    def fds(self):
        names = os.listdir("/proc/%d/fd" % self.args.pid)
        sockets = 0
        for n in names:
            try:
                sockets += os.readlink("/proc/%d/fd/%s" % (self.args.pid, n)).startswith("socket:")
            except OSError:
                pass
        return len(names), sockets

    def pick(self, held, tcp_only):
        """A live held session no worker is on and no cut has named (a cut one's thread may not
        have noticed yet), marked busy."""
        with self.cut_lock:
            candidates = [h for h in held if h.current() and h.current()[0] not in self.cut
                          and h.index not in self.busy and (not tcp_only or h.transport != "unix")]
            h = random.choice(candidates)
            self.busy.add(h.index)
            return h

    def one_cut(self, held):
        rnd = random.random
        method = random.choice(["kill", "ptrace", "pidfd", "destroy", "probe", "fault"])
        way = "id"
        if method in ("kill", "ptrace", "pidfd", "destroy") and rnd() < 0.15:
            way = "zombie"
        elif method != "kill" and rnd() < 0.3:
            way = "peer"
        if way == "zombie":
            with self.zombie_lock:
                self.cut_one(method, way, None)
            return
        # probe (TCP keepalive), fault (a rule on a 4-tuple) and destroy (sock_diag) are for TCP.
        h = self.pick(held, tcp_only=way == "peer" or method in ("probe", "fault", "destroy"))
        try:
            self.cut_one(method, way, h)
        finally:
            with self.cut_lock:
                self.busy.discard(h.index)

    def cut_one(self, method, way, h):
        if way == "zombie":
            sid = zombie(self.args)
            deadline = time.monotonic() + 5
            while not self.present(sid) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.05)
            target = ["--zombie", "client-gone"]
            port = None
        else:
            sid, port = h.current()
            target = [str(sid)] if way == "id" else ["--pid", str(self.args.pid), "--peer",
                                                     ("127.0.0.1:%d" if h.transport == "tcp4" else "[::1]:%d") % port]
        key = "%s/%s" % (method, way)
        self.tally.add("cuts")
        self.tally.add("by:" + key)
        if method == "ptrace":
            # One freeze at a time: a second ptrace close finds mysqld's threads traced by the first
            # and refuses (status 9, nothing touched), as it should.
            with self.ptrace_lock:
                return self.act(method, way, key, sid, port, target)
        return self.act(method, way, key, sid, port, target)

    def act(self, method, way, key, sid, port, target):
        if method in ("probe", "fault"):
            if method == "probe":
                p = self.myconn("probe", *target, "--yes")
                ok = p.returncode == 0
            else:
                p = self.myconn("fault", *target, "--loss", "30", "--for", "30s", "--yes")
                heal = self.myconn("fault", "--heal", *target, "--yes")
                left = self.myconn("fault", "--list", "--json")
                mine = [f for f in json.loads(left.stdout or "{}").get("faults", [])
                        if f.get("session_id") == sid or str(f.get("client", "")).endswith(":%d" % port)]
                ok = p.returncode == 0 and heal.returncode == 0 and left.returncode == 0 and not mine
                p = p if p.returncode else heal
            if not ok:
                self.tally.add("action_failures", note="%s on session %d: status %d: %s" % (key, sid, p.returncode, " | ".join(p.stderr.strip().splitlines()[-3:])[:400]))
            return
        if way != "zombie":
            self.mark_cut(sid)
        if method == "kill":
            p = self.myconn("kill", *target, "--yes")
        else:
            p = self.myconn("close", *target, "--method", method, "--yes")
        if p.returncode == 7 and "not proven" in p.stderr:
            # Refused with nothing touched: a socket myconn cannot prove is this session's.
            self.tally.add("refused_not_proven")
            with self.cut_lock:
                self.cut.discard(sid)
            return
        if p.returncode != 0:
            self.tally.add("action_failures", note="%s on session %d: status %d: %s" % (key, sid, p.returncode, " | ".join(p.stderr.strip().splitlines()[-3:])[:400]))
        deadline = time.monotonic() + 5
        while self.present(sid):
            if time.monotonic() > deadline:
                self.tally.add("targets_left_standing", note="%s: session %d still there after 5 s" % (key, sid))
                break
            time.sleep(0.02)
        if method == "ptrace":
            bad = self.traced_threads()
            if bad:
                self.tally.add("traced_threads", len(bad), note="after %s: traced or stopped threads %s" % (key, bad))

    def run(self):
        a = self.args
        random.seed(a.seed)
        query(self.admin, "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'" % (USER, PASSWORD))
        held = [Held(self, i) for i in range(a.sessions)]
        for h in held:
            h.start()
            if len(held) > 50:
                time.sleep(0.002)
        for h in held:
            h.ready.wait(60)
        time.sleep(1.5)
        base_fds = self.fds()
        churn = [Churn(self, "pymysql", a.churn / 2), Churn(self, "connector", a.churn / 2)]
        for c in churn:
            c.start()
        started = time.monotonic()
        left = [a.cuts]
        left_lock = threading.Lock()

        def worker():
            while True:
                with left_lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                if not os.path.exists("/proc/%d" % a.pid):
                    self.tally.add("mysqld_crashes", note="mysqld %d is gone" % a.pid)
                    return
                try:
                    self.one_cut(held)
                except Exception as e:
                    self.tally.add("driver_errors", note="driver: %r" % e)

        workers = [threading.Thread(target=worker) for _ in range(a.workers)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - started
        self.churn_stop.set()
        for c in churn:
            c.join()
        # Every held session back (a cut one reconnects), churn ended, zombies gone: the baseline.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            live = sum(1 for h in held if h.current())
            if live == len(held) and self.fds() == base_fds:
                break
            time.sleep(0.2)
        end_fds = self.fds()
        traced = self.traced_threads()
        alive = os.path.exists("/proc/%d" % a.pid)
        try:
            answering = query(self.admin, "SELECT 1")[0][0] == 1
        except Exception:
            answering = False
        self.stopping.set()
        t = self.tally
        result = {
            "thread_handling": a.thread_handling, "sessions": a.sessions, "cuts": t.get("cuts"),
            "seconds": round(elapsed, 1), "cuts_per_second": round(t.get("cuts") / elapsed, 2) if elapsed else None,
            "by": {k[3:]: v for k, v in sorted(t.counts.items()) if k.startswith("by:")},
            "queries": t.get("queries"), "churn_sessions": t.get("churn_sessions"),
            "churn_per_second": round(t.get("churn_sessions") / elapsed, 1) if elapsed else None,
            "cut_seen_by_client": t.get("cut_seen_by_client"),
            "foreign_rows": t.get("foreign_rows"), "lost_untargeted": t.get("lost_untargeted"),
            "targets_left_standing": t.get("targets_left_standing"), "action_failures": t.get("action_failures"),
            "mysqld_crashes": t.get("mysqld_crashes") + (0 if alive and answering else 1),
            "traced_threads": t.get("traced_threads") + len(traced),
            "fds_baseline": base_fds[0], "fds_end": end_fds[0], "socket_fds_baseline": base_fds[1], "socket_fds_end": end_fds[1],
            "refused_not_proven": t.get("refused_not_proven"), "driver_errors": t.get("driver_errors"), "workers": a.workers,
            "churn_errors": t.get("churn_errors"), "reconnect_errors": t.get("reconnect_errors"),
            "myconn_mean_ms": round(t.get("myconn_ms") / max(1, t.get("cuts")), 1),
            "notes": t.notes,
        }
        print(json.dumps(result))
        bad = [k for k in ("foreign_rows", "lost_untargeted", "targets_left_standing", "action_failures", "driver_errors",
                           "mysqld_crashes", "traced_threads") if result[k]]
        if end_fds != base_fds:
            bad.append("fds")
        return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--myconn", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--audit-log", required=True)
    p.add_argument("--cuts", type=int, default=1000)
    p.add_argument("--sessions", type=int, default=500)
    p.add_argument("--churn", type=float, default=100)
    p.add_argument("--workers", type=int, default=4, help="cuts made at once, each on a session of its own")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--thread-handling", default="")
    sys.exit(Soak(p.parse_args()).run())


if __name__ == "__main__":
    main()
