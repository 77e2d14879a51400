import Foundation
import MySQLSessions
import ProcFS
@testable import MyConnCore

/// A recorded server: see Fixtures/<name>/README.md for how each file was captured.
struct RecordedServer {
    let dir: URL

    init(_ name: String) {
        dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    func text(_ file: String) throws -> String {
        try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
    }

    func lines(_ file: String) throws -> [[Substring]] {
        try text(file).split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
    }

    func kernel(withFDs: Bool = true) throws -> KernelSnapshot {
        var fds: [Int32: FDTarget] = [:]
        for f in try lines("fd-links") where f.count == 2 {
            fds[Int32(f[0])!] = FDTarget(link: String(f[1]))
        }
        let tcp = try NetTCPParser.parse(text("net-tcp"), family: .tcp4) + NetTCPParser.parse(text("net-tcp6"), family: .tcp6)
        return KernelSnapshot(fds: withFDs ? fds : nil,
                              fdError: withFDs ? nil : .permissionDenied(path: "/proc/2897/fd"),
                              tcp: tcp, unix: try NetUnixParser.parse(text("net-unix")))
    }

    /// `mariadb -B` output: tab-separated, NULL for SQL NULL.
    func processList() throws -> [ProcessListRow] {
        try text("processlist.tsv").split(separator: "\n").dropFirst().map { line in
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0 == "NULL" ? nil : String($0) }
            return ProcessListRow(id: UInt64(c[0]!)!, user: c[1], host: c[2], db: c[3], command: c[4],
                                  time: Int64(c[5] ?? ""), state: c[6], info: c[7], tid: Int32(c[8] ?? ""))
        }
    }

    /// The fd each polling thread waited on, decoded from the recorded `struct pollfd` bytes.
    func polledFD() throws -> [Int32: Int32] {
        var out: [Int32: Int32] = [:]
        for f in try lines("task-pollfd") {
            let hex = Array(f[2].utf8)
            var fd: UInt32 = 0
            for i in stride(from: 6, through: 0, by: -2) {
                fd = fd << 8 | UInt32(UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16)!)
            }
            out[Int32(f[0])!] = Int32(bitPattern: fd)
        }
        return out
    }

    /// The oracle: `ss -tnpe` rows, peer address -> (fd, inode) of mariadbd.
    func ssTCP() throws -> [String: (fd: Int32, inode: UInt64)] {
        var out: [String: (Int32, UInt64)] = [:]
        for f in try lines("ss-tnpe.txt").dropFirst() {
            let peer = String(f[3])
            let fd = f.first { $0.contains("fd=") }.flatMap { Int32($0.split(separator: "=").last!.prefix { $0.isNumber }) }
            let inode = f.first { $0.hasPrefix("ino:") }.flatMap { UInt64($0.dropFirst(4)) }
            out[peer] = (fd!, inode!)
        }
        return out
    }

    /// The oracle for unix sockets: client inode -> (mariadbd fd, server inode), from `ss -xpe`.
    func ssUnix() throws -> [UInt64: (fd: Int32, inode: UInt64)] {
        var out: [UInt64: (Int32, UInt64)] = [:]
        for f in try lines("ss-xpe.txt") {
            let server = UInt64(f[5])!
            let peer = UInt64(f[7])!
            let fd = f.first { $0.contains("fd=") }.flatMap { Int32($0.split(separator: "=").last!.prefix { $0.isNumber }) }
            out[peer] = (fd!, server)
        }
        return out
    }

    /// What the client process printed: connection id -> client socket inode (unix sessions).
    func clientInodes() throws -> [UInt64: UInt64] {
        var out: [UInt64: UInt64] = [:]
        for f in try lines("demo-clients.out") where f.count == 4 {
            out[UInt64(f[0])!] = UInt64(f[3])!
        }
        return out
    }
}
