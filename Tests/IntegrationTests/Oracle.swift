import Foundation

/// What the test reads itself, independent of myconn's code: `/proc/<pid>/fd` by readlink,
/// and the kernel's socket tables through `ss` (sock_diag), run in mysqld's namespace.
struct Oracle {
    /// socket inode -> fd, from /proc/<pid>/fd.
    var fdByInode: [UInt64: Int32] = [:]
    /// client address (as ss prints it, e.g. 127.0.0.1:5555 or [::1]:5555) -> server socket inode.
    var tcpInodeByPeer: [String: UInt64] = [:]
    /// client unix socket inode -> server socket inode.
    var unixInodeByPeerInode: [UInt64: UInt64] = [:]

    init(server: TestServer) throws {
        let fdDir = "/proc/\(server.pid)/fd"
        for name in try FileManager.default.contentsOfDirectory(atPath: fdDir) {
            guard let fd = Int32(name),
                  let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDir)/\(name)"),
                  link.hasPrefix("socket:["), let inode = UInt64(link.dropFirst(8).dropLast()) else { continue }
            fdByInode[inode] = fd
        }
        let prefix = server.netnsPrefix
        let ssPath = "/usr/bin/ss"
        let tcp = prefix.isEmpty ? try run(ssPath, ["-tnHe", "state", "all", "sport", "= :\(server.port)"])
                                 : try run(prefix[0], Array(prefix.dropFirst()) + [ssPath, "-tnHe", "state", "all", "sport", "= :\(server.port)"])
        for line in tcp.stdout.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // State Recv-Q Send-Q Local Peer ... ino:N
            guard f.count > 5, let ino = f.first(where: { $0.hasPrefix("ino:") }).flatMap({ UInt64($0.dropFirst(4)) }),
                  ino != 0 else { continue }
            tcpInodeByPeer[String(f[4])] = ino
        }
        let ux = prefix.isEmpty ? try run(ssPath, ["-xnH"]) : try run(prefix[0], Array(prefix.dropFirst()) + [ssPath, "-xnH"])
        for line in ux.stdout.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // Netid State Recv-Q Send-Q Local Port Peer Port
            guard f.count >= 8, f[0] == "u_str", f[4] == server.socketPath,
                  let mine = UInt64(f[5]), let peer = UInt64(f[7]) else { continue }
            unixInodeByPeerInode[peer] = mine
        }
    }

    /// The server end of a demo client's session: (fd, inode) in mysqld.
    func serverEnd(of s: DemoClientsProcess.Session) -> (fd: Int32, inode: UInt64)? {
        let inode = s.transport == "unix" ? unixInodeByPeerInode[s.inode] : tcpInodeByPeer[s.local]
        guard let inode, let fd = fdByInode[inode] else { return nil }
        return (fd, inode)
    }
}
