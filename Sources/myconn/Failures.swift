#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore

/// Every error the core raises, mapped in this one file to its exit status and the one line
/// that says what to do next.
extension Failure {
    /// A login or connection that failed.
    init(_ error: MySQLError, host: String?) {
        switch error.kind {
        case .cannotConnect:
            self.init(.cannotConnect, "cannot reach the server: \(error.message); check -h/-P/-S and that mysqld is running")
        case .unknownHost:
            self.init(.cannotConnect, "unknown host '\(host ?? "")': \(error.message); check -h")
        case .accessDenied:
            self.init(.accessDenied, "login refused: \(error.message); check -u and -p, MYSQL_PWD or the [client] group of ~/.my.cnf")
        case .tooManyConnections:
            self.init(.tooManyConnections, "the server accepts no login now: \(error.message); from the kernel alone: myconn list --no-sql (with -S/-P or --pid), then myconn close --pid PID --peer ADDR:PORT or --fd N")
        case .client where error.code == 0:
            self.init(.usage, error.message)
        case .timedOut:
            self.init(.cannotConnect, "the server stopped answering: \(error) within --read-timeout; it may be wedged: myconn list --no-sql --pid PID lists its sockets from the kernel")
        case .client, .query:
            self.init(.internalError, "MySQL client error: \(error)")
        }
    }

    init(_ error: ListError) {
        switch error {
        case .sql(let e) where e.kind == .timedOut:
            self.init(.cannotConnect, "the server stopped answering: no reply within --read-timeout (\(e)); it may be wedged: myconn list --no-sql --pid PID lists its sockets from the kernel")
        case .sql(let e):
            self.init(.internalError, "reading the processlist failed: \(e)")
        case .locate(let e):
            self.init(e)
        case .kernel(.processGone(let pid)):
            self.init(.mysqldNotFound, "mysqld (pid \(pid)) exited while its sockets were read")
        case .kernel(.permissionDenied(let path)):
            self.init(.incomplete, "no permission to read \(path); \(descriptorPrivilegeAdvice)")
        case .kernel(let e):
            self.init(.internalError, "reading mysqld's sockets failed: \(e)")
        }
    }

    init(_ error: LocateError) {
        switch error {
        case .notFound(let why):
            self.init(.mysqldNotFound, "cannot find mysqld's process: \(why); pass --pid PID (mysqld's pid as seen from this host)")
        case .notMysqld(let pid, let comm, let port):
            let which = port == 0 ? "" : " on port \(port)"
            self.init(.mysqldNotFound, "pid \(pid) (\(comm)) is not the mysqld serving this connection: it has no listening socket\(which); pass mysqld's pid or omit --pid")
        case .notNamedServer(let pid, let comm):
            self.init(.mysqldNotFound, "pid \(pid) (\(comm)) is not the mysqld serving this connection: it is not named mysqld or mariadbd; pass mysqld's pid (pidof mariadbd mysqld) or omit --pid")
        case .notThreadGroupLeader(let pid, let leader, let comm):
            self.init(.mysqldNotFound, "pid \(pid) (\(comm)) is not the mysqld serving this connection: it is a thread of process \(leader); pass --pid \(leader) or omit --pid")
        case .processGone(let pid):
            self.init(.mysqldNotFound, "no process has pid \(pid); pass mysqld's pid or omit --pid")
        case .ambiguous(let pids, let port):
            self.init(.mysqldNotFound, "several mysqld processes listen on port \(port) (pids \(pids.map(String.init).joined(separator: ", "))); pass --pid")
        case .notServer(let pid, let comm):
            self.init(.mysqldNotFound, "the server end of myconn's connection is held by pid \(pid) (\(comm)), not mysqld: a proxy in front of it? pass mysqld's --pid, or --container NAME")
        case .behindProxy(let pid, let target):
            self.init(.mysqldNotFound, "the connection goes through docker-proxy (pid \(pid)) to \(target), and no mysqld on this host holds the other end; name the container with --container NAME (docker ps), or mysqld's --pid")
        }
    }

    init(_ error: TargetError) {
        switch error {
        case .unknownSession(let id):
            self.init(.badTarget, "no session \(id) on this server (see myconn list); nothing was done")
        case .unseenSession(let id):
            self.init(.badTarget, "no session \(id) among this user's own: without the PROCESS privilege the processlist shows no other, so it may exist; nothing was done: log in as a user with PROCESS")
        case .ownConnection(let id):
            self.init(.badTarget, "session \(id) is myconn's own connection; nothing was done")
        case .notProven(let id, let why):
            // --pid with --fd (or --peer, for TCP) reads mysqld's descriptors.
            let next = mayReadOthersDescriptors()
                ? "name the socket with --pid and --fd (or --peer ADDR:PORT for TCP): myconn list shows mysqld's fds"
                : "proving or naming a socket needs mysqld's descriptors: \(descriptorPrivilegeAdvice)"
            self.init(.badTarget, "session \(id)'s socket is not proven (\(why)); nothing was done: \(next)")
        case .fdNotSocket(let fd, let pid):
            self.init(.badTarget, "fd \(fd) of pid \(pid) is not a socket; nothing was done")
        case .fdMissing(let fd, let pid):
            self.init(.badTarget, "pid \(pid) has no fd \(fd); nothing was done")
        case .notAConnection(let fd, let pid):
            self.init(.badTarget, "fd \(fd) of pid \(pid) is not a TCP or unix-socket connection of mysqld; nothing was done")
        case .peerNotFound(let p):
            self.init(.badTarget, "mysqld has no connection from \(p); nothing was done (see myconn list)")
        case .peerAmbiguous(let p, let n):
            self.init(.badTarget, "\(n) mysqld connections have peer \(p); nothing was done: use --fd")
        case .notMysqld(let pid, let comm):
            self.init(.badTarget, "pid \(pid) is \(comm), not mysqld or mariadbd; nothing was done (--force to act anyway)")
        case .notProcess(let pid, let leader, let comm):
            self.init(.badTarget, "pid \(pid) is a thread of pid \(leader) (\(comm)), not a process: pass --pid \(leader); nothing was done")
        case .noListener(let pid, let comm):
            self.init(.badTarget, "pid \(pid) (\(comm)) holds no listening socket: it is not a serving mysqld; nothing was done")
        case .processGone(let pid):
            self.init(.mysqldNotFound, "no process has pid \(pid); nothing was done")
        case .kernel(.permissionDenied(let path)):
            self.init(.incomplete, "no permission to read \(path); \(descriptorPrivilegeAdvice); nothing was done")
        case .kernel(let e):
            self.init(.internalError, "reading mysqld's sockets failed: \(e); nothing was done")
        case .sql(let e):
            self.init(ListError.sql(e))
        }
    }

    init(_ error: ContainerError) {
        switch error {
        case .badName(let name):
            self.init(.usage, "--container \(name): not a container name or id (letters, digits, _ . -)")
        case .engineUnreachable(let socket, let reason):
            self.init(.containerEngine, "cannot ask the container engine at \(socket) (\(reason)); is dockerd (or podman's API service) running? pass --docker-socket PATH or set DOCKER_HOST=unix://PATH")
        case .noSuchContainer(let name):
            self.init(.mysqldNotFound, "no container \(name) (docker ps lists the running ones)")
        case .notRunning(let name, let status):
            self.init(.mysqldNotFound, "container \(name) is not running (\(status)); start it, or name a running one")
        case .badReply(let why):
            self.init(.containerEngine, "the container engine's reply was not understood: \(why)")
        }
    }

    init(_ error: MethodUnavailable) {
        self.init(.methodUnavailable, "\(error.message); nothing was done")
    }

    init<M>(_ stop: ActionPipeline<M>.Stop) {
        switch stop {
        case .methodUnavailable(let e):
            self.init(e)
        case .auditLog(let path, let errno):
            self.init(.auditLog, "cannot write the audit log \(path) (\(errno)); nothing was done: pass --audit-log PATH")
        case .notConfirmed:
            self.init(.notConfirmed, "nothing done: not confirmed")
        }
    }
}
