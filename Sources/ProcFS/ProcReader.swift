#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SocketModel
import SystemPackage

/// A failure to read something under /proc, with what it concerns.
public enum ProcError: Error, Hashable, Sendable {
    /// The process (or thread) does not exist, or exited while being read.
    case processGone(pid: Int32)
    /// Not allowed to read `path`. A process of another uid's descriptor table needs root, or
    /// CAP_DAC_READ_SEARCH to open the directory and CAP_SYS_PTRACE to read its links.
    case permissionDenied(path: String)
    /// Any other error from the kernel.
    case io(path: String, errno: Errno)
    case malformed(ProcParseError)
}

/// A kind of namespace a process is in, named as under `/proc/<pid>/ns/` (`namespaces(7)`).
public enum NamespaceKind: String, Sendable, CaseIterable {
    case net, pid
}

/// Reads /proc rooted at `procRoot`, so tests can point it at a recorded tree.
///
/// Every read goes to the end of the file instead of trusting the size /proc reports (0).
public struct ProcReader: Sendable {
    public let procRoot: FilePath

    public init(procRoot: FilePath = "/proc") {
        self.procRoot = procRoot
    }

    public func path(_ pid: Int32, _ rest: String) -> FilePath {
        procRoot.appending("\(pid)").appending(rest)
    }

    /// The whole text of a file under /proc.
    public func readText(_ path: FilePath, pid: Int32) throws(ProcError) -> String {
        let bytes = try readBytes(path, pid: pid)
        return String(decoding: bytes, as: UTF8.self)
    }

    func readBytes(_ path: FilePath, pid: Int32) throws(ProcError) -> [UInt8] {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec], retryOnInterrupt: true)
        } catch {
            throw Self.classify(error, path: path, pid: pid)
        }
        defer { try? fd.close() }
        var out: [UInt8] = []
        // One large read per call: /proc/net/tcp re-walks the socket hash to its position on
        // every read(2), so small reads make a big table quadratic.
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n: Int
            do {
                n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
            } catch {
                throw Self.classify(error, path: path, pid: pid)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    static func classify(_ error: Error, path: FilePath, pid: Int32) -> ProcError {
        guard let errno = error as? Errno else {
            return .io(path: path.string, errno: .ioError)
        }
        switch errno {
        case .noSuchFileOrDirectory, .noSuchProcess: return .processGone(pid: pid)
        case .permissionDenied, .notPermitted: return .permissionDenied(path: path.string)
        default: return .io(path: path.string, errno: errno)
        }
    }

    /// `/proc/<pid>/net/tcp` or `tcp6`: the sockets of the process's network namespace.
    public func tcpSockets(pid: Int32, family: TCPFamily) throws(ProcError) -> [TCPSocketEntry] {
        let p = path(pid, "net/\(family.procFileName)")
        let bytes: [UInt8]
        do {
            bytes = try readBytes(p, pid: pid)
        } catch .processGone(let gonePid) {
            // A kernel without IPv6 has no tcp6; the process itself may still be there.
            if family == .tcp6, exists(pid: pid) { return [] }
            throw .processGone(pid: gonePid)
        }
        do {
            return try NetTCPParser.parse(bytes: bytes, family: family)
        } catch {
            throw .malformed(error)
        }
    }

    /// `/proc/<pid>/net/unix`.
    public func unixSockets(pid: Int32) throws(ProcError) -> [UnixSocketEntry] {
        let text = try readText(path(pid, "net/unix"), pid: pid)
        do {
            return try NetUnixParser.parse(text)
        } catch {
            throw .malformed(error)
        }
    }

    /// `/proc/<pid>/fd`: every descriptor and what it points at (`readlink(2)` on each).
    /// Descriptors closed while the directory is read are left out.
    public func fdTable(pid: Int32) throws(ProcError) -> [Int32: FDTarget] {
        let dir = try FDDirectory(reader: self, pid: pid)
        var table: [Int32: FDTarget] = [:]
        table.reserveCapacity(dir.fds.count)
        for (fd, target) in try dir.readTargets() { table[fd] = target }
        return table
    }

    /// `socket:[N]` without building a String (mysqld's table is mostly sockets); anything else
    /// through ``FDTarget/init(link:)``.
    static func fdTarget(_ link: UnsafeBufferPointer<UInt8>) -> FDTarget {
        let prefix: [UInt8] = Array("socket:[".utf8)
        if link.count > prefix.count + 1, link.last == 0x5D, link.starts(with: prefix) {
            var inode: UInt64 = 0
            var ok = true
            for b in link[prefix.count..<(link.count - 1)] {
                guard b >= 0x30 && b <= 0x39 else { ok = false; break }
                inode = inode &* 10 &+ UInt64(b - 0x30)
            }
            if ok { return .socket(inode: inode) }
        }
        return FDTarget(link: String(decoding: link, as: UTF8.self))
    }

    /// What `/proc/<pid>/fd/<fd>` points at now.
    public func fdTarget(pid: Int32, fd: Int32) throws(ProcError) -> FDTarget {
        let p = path(pid, "fd/\(fd)")
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(p.string, &buf, buf.count)
        if n < 0 { throw Self.classify(Errno(rawValue: errno), path: p, pid: pid) }
        return FDTarget(link: String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// `/proc/<pid>/ns/<kind>`: a process's handle on one of its namespaces (`setns(2)` takes it).
    public func namespacePath(pid: Int32, _ kind: NamespaceKind) -> FilePath {
        path(pid, "ns/\(kind.rawValue)")
    }

    /// The namespace link `/proc/<pid>/ns/<kind>`, e.g. `net:[4026531840]`: equal links, same namespace.
    public func namespaceLink(pid: Int32, _ kind: NamespaceKind) throws(ProcError) -> String {
        let p = namespacePath(pid: pid, kind)
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink(p.string, &buf, buf.count)
        if n < 0 { throw Self.classify(Errno(rawValue: errno), path: p, pid: pid) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `/proc/<pid>/status`, or with `tid` the thread's `/proc/<pid>/task/<tid>/status`.
    public func status(pid: Int32, tid: Int32? = nil) throws(ProcError) -> ProcStatus {
        ProcStatus(text: try readText(path(pid, tid.map { "task/\($0)/status" } ?? "status"), pid: pid))
    }

    /// For a process in a pid namespace of its own: each thread's id inside its innermost
    /// namespace (what the server itself reports, e.g. as processlist TID) -> the id seen here,
    /// from the `NSpid:` line of `/proc/<pid>/task/<tid>/status`.
    public func namespacedThreadIDs(pid: Int32) -> [Int32: Int32] {
        var out: [Int32: Int32] = [:]
        for tid in ProcReader(procRoot: path(pid, "task")).pids() {
            guard let ids = try? status(pid: pid, tid: tid).namespacedPIDs else { continue }
            if let inner = ids.last, let here = ids.first { out[inner] = here }
        }
        return out
    }

    /// `/proc/<pid>/task/<tid>/syscall`: what one thread is blocked in.
    public func threadSyscall(pid: Int32, tid: Int32) throws(ProcError) -> ThreadSyscall {
        let p = path(pid, "task/\(tid)/syscall")
        let text = try readText(p, pid: pid)
        guard let parsed = ThreadSyscall(text: Substring(text)) else {
            throw .malformed(.malformed(file: "syscall", line: text))
        }
        return parsed
    }

    /// Reads `count` bytes of the process's memory at `address` through `/proc/<pid>/mem`
    /// (needs the same permission as ptrace; nothing in the process is stopped).
    public func readMemory(pid: Int32, address: UInt64, count: Int) throws(ProcError) -> [UInt8] {
        let p = path(pid, "mem")
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(p, .readOnly, options: [.closeOnExec], retryOnInterrupt: true)
        } catch {
            throw Self.classify(error, path: p, pid: pid)
        }
        defer { try? fd.close() }
        var out = [UInt8](repeating: 0, count: count)
        let n: Int
        do {
            n = try out.withUnsafeMutableBytes {
                try fd.read(fromAbsoluteOffset: Int64(bitPattern: address), into: $0, retryOnInterrupt: true)
            }
        } catch {
            throw Self.classify(error, path: p, pid: pid)
        }
        guard n == count else { throw .io(path: p.string, errno: .ioError) }
        return out
    }

    /// The command name from `/proc/<pid>/comm`.
    public func comm(pid: Int32) throws(ProcError) -> String {
        var text = try readText(path(pid, "comm"), pid: pid)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Seconds since the process started: `/proc/uptime` minus `starttime` of `/proc/<pid>/stat`
    /// (both world-readable). nil when either cannot be read.
    public func processAge(pid: Int32) -> Double? {
        guard let stat = try? readText(path(pid, "stat"), pid: pid),
              let uptime = try? readText(procRoot.appending("uptime"), pid: pid),
              let now = Double(uptime.prefix { $0 != " " }),
              let start = ProcStat.startTimeTicks(stat)
        else { return nil }
        return now - Double(start) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The real uid of a process (`Uid:` of `/proc/<pid>/status`).
    public func uid(pid: Int32) throws(ProcError) -> UInt32? {
        try status(pid: pid).uid
    }

    /// Which processes hold these socket inodes, from every process's `/proc/<pid>/fd` (what
    /// `ss -p` does, and as costly: one readlink per descriptor on the machine). Processes in
    /// `except` are skipped; ones that cannot be read (no permission, gone) are left out.
    public func socketOwners(of inodes: Set<UInt64>, except: Set<Int32> = []) -> [UInt64: [SocketOwner]] {
        guard !inodes.isEmpty else { return [:] }
        var out: [UInt64: [SocketOwner]] = [:]
        for pid in pids() where !except.contains(pid) {
            guard let table = try? fdTable(pid: pid) else { continue }
            var found: [(UInt64, Int32)] = []
            for (fd, target) in table { if let i = target.socketInode, inodes.contains(i) { found.append((i, fd)) } }
            guard !found.isEmpty, let command = try? comm(pid: pid) else { continue }
            let uid = (try? uid(pid: pid)) ?? nil
            for (inode, fd) in found { out[inode, default: []].append(SocketOwner(pid: pid, command: command, uid: uid, fd: fd)) }
        }
        for k in out.keys { out[k]!.sort { ($0.pid, $0.fd) < ($1.pid, $1.fd) } }
        return out
    }

    /// Whether `/proc/<pid>` exists.
    public func exists(pid: Int32) -> Bool {
        access(procRoot.appending("\(pid)").string, F_OK) == 0
    }

    /// The ids of every process visible in this /proc.
    public func pids() -> [Int32] {
        guard let dir = opendir(procRoot.string) else { return [] }
        defer { closedir(dir) }
        var out: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = Int32(name) { out.append(pid) }
        }
        return out
    }
}
