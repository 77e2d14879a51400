#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import MySQLSessions
import ProcFS
import SystemPackage
import Testing
@testable import MyConnCore

/// The /proc tree in Fixtures/mariadb-10.11-proc-tree (its README and record.sh say how it was
/// recorded): two mariadbd, one demo-clients process, pid 1, one session thread as a tid. Or
/// the same layout recorded again with the sock_diag conversation of that moment, from MariaDB
/// 10.11 on the host (Fixtures/mariadb-10.11-netlink-tree) and from 11.8 in a container
/// (Fixtures/mariadb-11.8-netlink-tree).
struct RecordedProcTree {
    static let name = "mariadb-10.11-proc-tree", withSockDiag = "mariadb-10.11-netlink-tree"
    /// Every tree recorded with its sock_diag conversation, one per server version.
    static let withSockDiagByVersion = [withSockDiag, "mariadb-11.8-netlink-tree"]
    let files: RecordedServer
    let facts: [String: String]

    init(_ name: String = name) throws {
        files = RecordedServer(name)
        var f: [String: String] = [:]
        for line in try files.text("facts.txt").split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { f[String(parts[0])] = String(parts[1]) }
        }
        facts = f
    }

    func pid(_ key: String) -> Int32 { Int32(facts[key]!)! }
    var mainPID: Int32 { pid("main_pid") }
    var decoyPID: Int32 { pid("decoy_pid") }
    var clientsPID: Int32 { pid("clients_pid") }
    var threadAsPID: Int32 { pid("thread_as_pid") }
    var mainPort: UInt16 { UInt16(facts["main_port"]!)! }
    var decoyPort: UInt16 { UInt16(facts["decoy_port"]!)! }
    var mainSocket: String { facts["main_socket"]! }
    var root: String { files.dir.appendingPathComponent("proc").path }

    /// A reader of the tree as recorded (no `mem`: threads in poll cannot be proven).
    var proc: ProcReader { ProcReader(procRoot: FilePath(root)) }

    /// The processlist as recorded; the session that read it stands for myconn's own connection
    /// in these tests (11 in every tree so far).
    func processList() throws -> [ProcessListRow] { try files.processList() }
    var selfID: UInt64 {
        let rows = (try? processList()) ?? []
        return rows.first { $0.info?.contains("information_schema.PROCESSLIST") == true }?.id ?? 11
    }

    /// `SELECT VERSION()` as recorded (the first trees did not keep it: 10.11.19).
    var version: String { facts["version"] ?? "10.11.19-MariaDB-0+deb12u1" }

    var serverFacts: ServerFacts {
        ServerFacts(version: version, port: mainPort, connectionID: selfID, performanceSchema: false,
                    threadHandling: "one-thread-per-connection", hasProcessPrivilege: true)
    }

    func serverUptime() throws -> UInt64 { UInt64(try files.text("uptime-sql.txt").trimmingCharacters(in: .whitespacesAndNewlines))! }

    /// The TCP oracle: client address ("127.0.0.1:40806", "[::1]:36114") -> mariadbd's (fd, inode).
    func ssTCP() throws -> [String: (fd: Int32, inode: UInt64)] { try files.ssTCP() }
    /// The unix oracle: client inode -> mariadbd's (fd, inode).
    func ssUnix() throws -> [UInt64: (fd: Int32, inode: UInt64)] { try files.ssUnix() }

    /// The sock_diag requests and replies recorded with the tree (`sock-diag.bin`).
    func sockDiag() throws -> [UInt8] { Array(try Data(contentsOf: files.dir.appendingPathComponent("sock-diag.bin"))) }

    /// The tcp_info oracle from `ss -tnpei` (read after the dump): client address -> rtt in µs,
    /// unacked, and the ms since the last send and receive, which only grew since the dump.
    func ssTCPInfo() throws -> [String: (rtt: UInt32, unacked: UInt32, lastSend: UInt32, lastReceive: UInt32)] {
        var out: [String: (UInt32, UInt32, UInt32, UInt32)] = [:]
        var peer: String?
        for f in try files.lines("ss-tnpei.txt").dropFirst() {
            guard f.contains(where: { $0.hasPrefix("rtt:") }) else {
                peer = String(f[3])
                continue
            }
            func field(_ name: String) -> Substring? { f.first { $0.hasPrefix(name + ":") }?.dropFirst(name.count + 1) }
            let rtt = try #require(field("rtt").flatMap { Double($0.prefix { $0 != "/" }) })
            out[try #require(peer)] = (UInt32((rtt * 1000).rounded()), field("unacked").flatMap { UInt32($0) } ?? 0,
                                       try #require(field("lastsnd").flatMap { UInt32($0) }),
                                       try #require(field("lastrcv").flatMap { UInt32($0) }))
        }
        return out
    }

    /// What the demo clients printed: session id -> (transport, client address, client inode).
    func clients() throws -> [UInt64: (transport: String, local: String, inode: UInt64)] {
        var out: [UInt64: (String, String, UInt64)] = [:]
        for f in try files.lines("clients.out") where f.count == 4 {
            out[UInt64(f[0])!] = (String(f[1]), String(f[2]), UInt64(f[3])!)
        }
        return out
    }

    /// A copy of the tree on tmpfs with each polling thread's recorded `struct pollfd` written
    /// into a sparse `mem` at its address, so ``ThreadSocketProbe`` reads what it read live.
    func withMemory() throws -> MaterializedTree { try MaterializedTree(self) }
}

/// A tmpfs copy of the recorded tree, removed when it goes. /dev/shm: the addresses are ~128 TiB
/// into `mem`, past what ext4 allows a sparse file.
final class MaterializedTree {
    let dir: String
    var proc: ProcReader { ProcReader(procRoot: FilePath(dir)) }

    init(_ tree: RecordedProcTree) throws {
        dir = "/dev/shm/myconn-proc-\(getpid())-\(UUID().uuidString.prefix(8))"
        // deinit does not run when init throws: remove a half-made copy here.
        do { try Self.make(dir, from: tree) } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    private static func make(_ dir: String, from tree: RecordedProcTree) throws {
        // cp -RP: symlinks stay symlinks and nothing tries to keep root's ownership (Foundation's
        // copyItem does, and fails for an unprivileged user).
        let cp = Process()
        cp.executableURL = URL(fileURLWithPath: "/bin/cp")
        cp.arguments = ["-RP", tree.root, dir]
        try cp.run()
        cp.waitUntilExit()
        try #require(cp.terminationStatus == 0, "cp -RP \(tree.root) \(dir)")
        let mem = "\(dir)/\(tree.mainPID)/mem"
        let fd = open(mem, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0, "create \(mem): errno \(errno)")
        defer { close(fd) }
        for f in try tree.files.lines("task-pollfd") {
            let address = try #require(UInt64(f[1].dropFirst(2), radix: 16))
            let hex = Array(f[2].utf8)
            let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(Int64(bitPattern: address))) }
            try #require(n == bytes.count, "pwrite at \(f[1]): errno \(errno)")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }
}

/// The SQL side of ``Lister`` played from recorded facts, with each `presentSessions` answer
/// chosen by the test (the re-check is the second call when TIDs are in the rows).
final class FakeSessionSource: SessionSource {
    var facts: ServerFacts
    var rows: [ProcessListRow]
    var psFDs: [UInt64: Int32] = [:]
    var uptime: UInt64?
    /// Called with the ids asked about, in call order: what the server answers then (nil: the
    /// query fails).
    var present: (_ call: Int, _ ids: [UInt64]) -> [UInt64: Int32?]?
    private(set) var presentCalls: [[UInt64]] = []
    private(set) var uptimeAsked = false

    init(facts: ServerFacts, rows: [ProcessListRow],
         present: @escaping (_ call: Int, _ ids: [UInt64]) -> [UInt64: Int32?]?) {
        self.facts = facts
        self.rows = rows
        self.present = present
    }

    /// A source whose sessions all stay on their recorded threads.
    convenience init(facts: ServerFacts, rows: [ProcessListRow]) {
        let tids = Dictionary(rows.map { ($0.id, $0.tid) }, uniquingKeysWith: { a, _ in a })
        self.init(facts: facts, rows: rows) { _, ids in
            Dictionary(ids.compactMap { id in tids[id].map { (id, $0) } }, uniquingKeysWith: { a, _ in a })
        }
    }

    func serverFacts() throws(MySQLError) -> ServerFacts { facts }
    func processList() throws(MySQLError) -> [ProcessListRow] { rows }
    func performanceSchemaSocketFDs() throws(MySQLError) -> [UInt64: Int32] { psFDs }
    func uptimeSeconds() -> UInt64? {
        uptimeAsked = true
        return uptime
    }
    func presentSessions(_ ids: [UInt64]) throws(MySQLError) -> [UInt64: Int32?] {
        presentCalls.append(ids)
        guard let answer = present(presentCalls.count, ids) else {
            throw MySQLError(kind: .query, code: 2013, message: "Lost connection to server during query")
        }
        return answer
    }
    /// No socket of ours: the fixture's mysqld is not connected to this process.
    var socketDescriptor: Int32 { -1 }
}
