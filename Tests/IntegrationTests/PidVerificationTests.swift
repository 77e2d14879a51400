import Foundation
import Testing

extension RealServer {
    /// Promise 6 of issue 8: `--pid` is verified (a thread-group leader named mysqld/mariadbd,
    /// holding a listener), and knowing it spares a TCP login the scan of every process's fds.
    @Suite("--pid is verified, and spares the owner scan")
    struct PidVerificationTests {
        @Test("list --pid 1: exit 5 and one line saying what pid 1 is and what to pass")
        func pidOne() throws {
            let server = try TestServer()
            let comm = try String(contentsOfFile: "/proc/1/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            for target in [["-S", server.socketPath], ["-h127.0.0.1", "-P\(server.port)"]] {
                expectOneLineFailure(try myconn(["list", "--no-defaults", "-uroot", "--pid", "1"] + target), status: 5,
                                     mentioning: ["pid 1 (\(comm)) is not the mysqld", "not named mysqld or mariadbd", "--pid"])
            }
            expectOneLineFailure(try myconn(["list", "--no-sql", "--pid", "1"]), status: 5, mentioning: ["pid 1 (\(comm))"])
            expectOneLineFailure(try myconn(["zombies", "--no-defaults", "-uroot", "-S", server.socketPath, "--pid", "1"]), status: 5,
                                 mentioning: ["pid 1 (\(comm))"])
        }

        @Test("a mysqld thread id as --pid: refused with the process to pass instead, by list, zombies and close")
        func threadID() throws {
            let server = try TestServer()
            let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/task").compactMap(Int32.init)
            let tid = try #require(threads.first { $0 != server.pid }, "mariadbd has threads")
            for command in ["list", "zombies"] {
                expectOneLineFailure(try myconn([command, "--no-defaults", "-uroot", "-S", server.socketPath, "--pid", "\(tid)"]),
                                     status: 5, mentioning: ["pid \(tid) (", "a thread of process \(server.pid)", "--pid \(server.pid)"])
            }
            let audit = server.dir.appendingPathComponent("audit.log").path
            let close = try myconn(["close", "--pid", "\(tid)", "--fd", "3", "--yes", "--audit-log", audit, "--force"])
            expectOneLineFailure(close, status: 7, mentioning: ["a thread of pid \(server.pid)", "nothing was done"])
            let logged = (try? String(contentsOfFile: audit, encoding: .utf8)) ?? ""
            #expect(!logged.contains("\"mysqld_pid\":\(tid)"), "the thread id never reaches the audit log as mysqld_pid: \(logged)")
            // The right pid still works, over TCP too.
            let right = try myconn(["list", "--json", "--no-defaults", "-uroot", "-h127.0.0.1", "-P\(server.port)", "--pid", "\(server.pid)"])
            #expect(right.status == 0, "\(right.stderr)")
        }

        @Test("with --pid, a TCP login reads mysqld's descriptors once, as over -S (readlinkat counted by strace, 300 TCP clients)")
        func noOwnerScan() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:300"])
            #expect(clients.sessions.count == 300)
            func readlinks(_ target: [String]) throws -> Int {
                let summary = server.dir.appendingPathComponent("strace-\(UUID().uuidString)").path
                let r = try run("/usr/bin/strace", ["-f", "-c", "-e", "trace=readlinkat", "-o", summary,
                                                    productsDir.appendingPathComponent("myconn").path,
                                                    "list", "--json", "--no-defaults", "-uroot"] + target)
                #expect(r.status == 0, "\(r.stderr)")
                let line = try String(contentsOfFile: summary, encoding: .utf8).split(separator: "\n").first { $0.hasSuffix("readlinkat") }
                // "% time  seconds  usecs/call  calls  [errors]  syscall": calls is the 4th column.
                return try #require(line.flatMap { Int($0.split(separator: " ")[3]) }, "strace summary: \(line ?? "none")")
            }
            let overSocket = try readlinks(["-S", server.socketPath])
            let overTCPWithPID = try readlinks(["-h127.0.0.1", "-P\(server.port)", "--pid", "\(server.pid)"])
            #expect(overSocket >= 300, "mysqld's own descriptors are read: \(overSocket)")
            #expect(abs(overTCPWithPID - overSocket) <= 10, "-S: \(overSocket) readlinkat, TCP with --pid: \(overTCPWithPID)")
        }
    }
}
