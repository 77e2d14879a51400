#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import FoundationEssentials
import LinuxKernel
import ProcFS
import SystemPackage

/// Why faults cannot be read or changed in mysqld's network namespace.
public enum FaultError: Error, Sendable, Equatable {
    /// The namespace cannot be joined (EPERM: not root / no CAP_SYS_ADMIN over it).
    case namespace(pid: Int32, Errno)
    /// nftables refused (EPERM there: no CAP_NET_ADMIN in that namespace), with its words.
    case nftables(String)
    /// The listing is not the JSON libnftables writes.
    case listing(String)

    public var message: String {
        switch self {
        case .namespace(let pid, let e): return "cannot enter mysqld's network namespace (/proc/\(pid)/ns/net): \(e)"
        case .nftables(let m): return "nftables: " + TerminalText.oneLine(m).split(separator: " ").joined(separator: " ")
        case .listing(let m): return "cannot read nftables' listing: \(m)"
        }
    }
}

/// The faults of one mysqld: our nftables table in its network namespace, read and changed
/// from a thread that joins that namespace for the call (``NetworkNamespace``). Each call is one
/// nftables transaction; the ruleset is the only state, so every myconn process sees the same.
public struct FaultTable: Sendable {
    public let pid: Int32

    public init(pid: Int32) { self.pid = pid }

    /// The namespace's identity, as `/proc/<pid>/ns/net` names it (`net:[4026531840]`).
    public var namespace: String { Self.link("/proc/\(pid)/ns/net") ?? "net:[?]" }

    /// This thread's own network namespace.
    static var ownNamespace: String? { link("/proc/thread-self/ns/net") }

    static func link(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 64)
        let n = readlink(path, &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    /// The namespace's interfaces by index: the egress chains are named `egress_<index>`.
    public func interfaces() throws(FaultError) -> [UInt32: String] {
        try inNamespace { _ throws(FaultError) in
            Dictionary(networkInterfaces().map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// This mysqld's faults (another mysqld of the same namespace has its own).
    public func list() throws(FaultError) -> [FaultRuleset.Installed] {
        let pid = self.pid
        return try inNamespace { nft throws(FaultError) in try Self.list(nft).filter { $0.record.mysqldPID == pid } }
    }

    /// Adds a fault made by `make` from the next free id, in one transaction with the read that
    /// chose the id. - Returns: the record as installed, with its rules.
    public func add(seconds: Double?, _ make: @escaping @Sendable (Int) -> FaultRecord) throws(FaultError) -> FaultRuleset.Installed {
        try inNamespace { nft throws(FaultError) in
            // Another myconn may take the same id between our read and our add: its sets then
            // exist, our transaction fails as a whole, and the next id is tried.
            var attempt = 0
            var record: FaultRecord
            while true {
                record = make(FaultRuleset.nextID(try Self.list(nft)))
                let commands = FaultRuleset.add(record, seconds: seconds, interfaces: networkInterfaces())
                do throws(NftError) {
                    try nft.run(commands)
                    break
                } catch {
                    attempt += 1
                    guard error.message.contains("File exists"), attempt < 5 else { throw .nftables(error.message) }
                }
            }
            guard let added = try Self.list(nft).first(where: { $0.record.id == record.id }) else {
                throw .nftables("fault \(record.id) is not in the ruleset after adding it")
            }
            return added
        }
    }

    /// Removes this mysqld's faults that `which` picks (all when nil), and our table with the
    /// last fault of any mysqld in the namespace.
    /// - Returns: the faults removed.
    @discardableResult
    public func remove(anyMysqld: Bool = false, where which: (@Sendable (FaultRuleset.Installed) -> Bool)? = nil) throws(FaultError) -> [FaultRuleset.Installed] {
        let pid = self.pid
        return try inNamespace { nft throws(FaultError) in
            // One read of our tables serves the faults, the delays' records and the families.
            let texts = try Self.listings(nft)
            let all: [FaultRuleset.Installed], delays: [DelayRecord]
            do { (all, delays) = (try FaultRuleset.parse(listings: texts), try DelayRecord.parse(listings: texts)) } catch {
                throw .listing(String(describing: error))
            }
            let mine = anyMysqld ? all : all.filter { $0.record.mysqldPID == pid }
            let gone = which.map { mine.filter($0) } ?? mine
            // A table goes when no fault left uses it.
            let goneIDs = Set(gone.map(\.record.id))
            var used = Set(all.filter { !goneIDs.contains($0.record.id) }.flatMap { f in f.rules.map(\.family) + f.sets.map { String($0.split(separator: " ")[0]) } })
            if !delays.isEmpty { used.insert("inet") }  // a running delay's record
            let emptied = try Self.tables(nft).filter { !used.contains($0) }
            guard !gone.isEmpty || !emptied.isEmpty else { return [] }
            do throws(NftError) { try nft.run(FaultRuleset.remove(gone, dropTables: emptied)) } catch { throw .nftables(error.message) }
            return gone
        }
    }

    /// The families (`inet`, `netdev`) that have a table of ours in the namespace.
    static func tables(_ nft: NftContext) throws(FaultError) -> [String] {
        let tables: String
        do throws(NftError) { tables = try nft.run("list tables") } catch { throw .nftables(error.message) }
        struct Doc: Decodable {
            struct Item: Decodable { struct T: Decodable { var family: String; var name: String }; var table: T? }
            var nftables: [Item]
        }
        guard let doc = try? JSONDecoder().decode(Doc.self, from: Data(tables.utf8)) else { throw .listing("list tables: not nftables' JSON") }
        return doc.nftables.compactMap(\.table).filter { $0.name == FaultRuleset.table && ["inet", "netdev"].contains($0.family) }.map(\.family)
    }

    static func listings(_ nft: NftContext) throws(FaultError) -> [String] {
        var listings: [String] = []
        for family in try tables(nft) {
            do throws(NftError) { listings.append(try nft.run("list table \(family) \(FaultRuleset.table)")) } catch { throw .nftables(error.message) }
        }
        return listings
    }

    static func delays(_ nft: NftContext) throws(FaultError) -> [DelayRecord] {
        do { return try DelayRecord.parse(listings: try listings(nft)) } catch let e as FaultError { throw e } catch { throw .listing(String(describing: error)) }
    }

    /// Writes a running delay's record (``DelayRecord``).
    public func record(_ delay: DelayRecord) throws(FaultError) {
        try inNamespace { nft throws(FaultError) in
            do throws(NftError) { try nft.run(delay.add) } catch { throw .nftables(error.message) }
        }
    }

    /// Removes a delay's record, and our tables if nothing of ours is left in them.
    public func forget(_ delay: DelayRecord) throws(FaultError) {
        try inNamespace { nft throws(FaultError) in
            do throws(NftError) { try nft.run(delay.remove) } catch { throw .nftables(error.message) }
        }
        _ = try remove { _ in false }
    }

    /// The delays whose myconn process is gone: their xtables rules deleted (rebuilt from the
    /// record), their records removed. - Returns: how many.
    public func sweepDelays() throws(FaultError) -> Int {
        let gone = try inNamespace { nft throws(FaultError) in
            try Self.delays(nft).filter { access("/proc/\($0.owner)", F_OK) != 0 }
        }
        for d in gone {
            try inNamespace { nft throws(FaultError) in
                for r in DelayInjection.rules(d.connection, direction: d.direction, queue: d.queue, comment: d.comment, op: "-D") { _ = runProgram(r) }
                do throws(NftError) { try nft.run(d.remove) } catch { throw .nftables(error.message) }
            }
        }
        if !gone.isEmpty { _ = try remove { _ in false } }
        return gone.count
    }

    static func list(_ nft: NftContext) throws(FaultError) -> [FaultRuleset.Installed] {
        let texts = try listings(nft)
        do { return try FaultRuleset.parse(listings: texts) } catch { throw .listing(String(describing: error)) }
    }

    /// Runs `body` in mysqld's network namespace, holding an exclusive flock(2) on that
    /// namespace's nsfs inode (`/proc/<pid>/ns/net`: one inode per namespace, whoever opens it, a
    /// sidecar's myconn included). Without it two myconn processes raced: a heal dropping our
    /// emptied table between another's `list tables` and `list table` made that one fail
    /// ("No such file or directory", reported as a permission problem), and a drop could take a
    /// fault added a moment before with it (bench/soak.sh, four cuts at once, found the first).
    private func inNamespace<T: Sendable>(_ body: @escaping @Sendable (NftContext) throws(FaultError) -> T) throws(FaultError) -> T {
        let lock = open("/proc/\(pid)/ns/net", O_RDONLY | O_CLOEXEC)
        defer { if lock >= 0 { close(lock) } }
        // Best effort: a namespace file this process may not open is joined (or not) as before.
        if lock >= 0 { while flock(lock, LOCK_EX) != 0 && errno == EINTR {} }
        return try unlockedInNamespace(body)
    }

    private func unlockedInNamespace<T: Sendable>(_ body: @escaping @Sendable (NftContext) throws(FaultError) -> T) throws(FaultError) -> T {
        // Already there (a sidecar sharing mysqld's namespace): joining it again would need
        // CAP_SYS_ADMIN, which a sidecar with NET_ADMIN alone does not have.
        if namespace == FaultTable.ownNamespace {
            // Our own namespace: the kernel checks our effective set (in our own user namespace,
            // the one that owns this network namespace but for a user namespace we made
            // ourselves). Asked before libnftables, which on EPERM prints a line of its own to
            // stderr besides the error it returns.
            if ProcStatus.ofThisThread()?.has(ProcStatus.capNetAdmin) == false {
                throw .nftables("Operation not permitted: no CAP_NET_ADMIN")
            }
            let nft: NftContext
            do throws(NftError) { nft = try NftContext() } catch { throw .nftables(error.message) }
            return try body(nft)
        }
        let result: Result<T, FaultError>
        do throws(Errno) {
            result = try NetworkNamespace.run(in: "/proc/\(pid)/ns/net") { () -> Result<T, FaultError> in
                let nft: NftContext
                do throws(NftError) { nft = try NftContext() } catch { return .failure(.nftables(error.message)) }
                do throws(FaultError) { return .success(try body(nft)) } catch { return .failure(error) }
            }
        } catch {
            throw .namespace(pid: pid, error)
        }
        return try result.get()
    }
}

extension FaultTable {
    /// Removes the faults whose socket mysqld no longer holds (no descriptor of it on that inode
    /// with that cookie: the 4-tuple may pass to another connection, which our rules must never
    /// match), and those whose elements the kernel has expired. Run by every `fault` call.
    /// - Returns: the faults removed.
    @discardableResult
    public func sweep(proc: ProcReader = ProcReader(), now: Int64 = Int64(time(nil))) throws(FaultError) -> [FaultRuleset.Installed] {
        // Faults of a mysqld that is no longer in this namespace (exited, or its pid is another
        // process's now) have no socket left to match: they go first.
        let here = namespace, me = pid
        _ = try sweepDelays()
        let orphans = try remove(anyMysqld: true) { f in
            guard f.record.mysqldPID != me else { return false }
            let pid = f.record.mysqldPID
            // Gone, or now in another namespace; a namespace we may not read is left alone.
            if let there = Self.link("/proc/\(pid)/ns/net") { return there != here }
            return access("/proc/\(pid)", F_OK) != 0
        }
        guard !(try list()).isEmpty else { return orphans + (try remove { _ in false }) }
        // mysqld's sockets now: inode -> cookie, from its descriptors and sock_diag.
        var live: [UInt64: UInt64] = [:]
        var known = false
        if let kernel = try? KernelSnapshot.read(pid: pid, proc: proc, source: .netlink, serverPort: 0) {
            let held = kernel.fdBySocketInode()
            for e in kernel.tcp where held[e.inode] != nil { if let c = e.cookie { live[e.inode] = c } }
            known = kernel.fds != nil
        }
        let liveNow = live, knownNow = known
        return try orphans + remove { f in
            if f.expired && (f.record.until.map { $0 <= now } ?? true) { return true }
            guard knownNow else { return false }
            return liveNow[f.record.connection.inode] != f.record.connection.cookie
        }
    }
}
