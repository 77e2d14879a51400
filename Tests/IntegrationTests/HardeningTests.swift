import Foundation
import Testing

/// Issue 14's bad inputs and security pass, each tried as a new user would: one line, the
/// documented status, nothing touched. The README's "Bad input" table lists the same rows.
extension RealServer {
    @Suite("bad input and the security pass: outputs, arguments, option files, audit paths, argv")
    struct HardeningTests {
        let bin = productsDir.appendingPathComponent("myconn").path

        /// myconn through `sh -c` with a redirection (`> /dev/full`, `>&-`, `2>&-`).
        func shell(_ redirect: String, _ args: [String]) throws -> RunResult {
            try run("/bin/sh", ["-c", "exec \"$0\" \"$@\" \(redirect)", bin] + args)
        }

        @Test("stdout full or closed: one line, status 16 (closed: nothing done); stderr closed: the connection does not take fd 2")
        func standardDescriptors() throws {
            let server = try TestServer()
            let conn = ["--no-defaults", "-uroot", "-S", server.socketPath]
            for args in [["list"] + conn, ["list", "--json"] + conn, ["--help"]] {
                expectOneLineFailure(try shell("> /dev/full", args), status: 16, mentioning: ["cannot write the output", "No space left on device"])
            }
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"])
            let victim = clients.sessions[0].id
            let audit = server.dir.appendingPathComponent("audit.log").path
            let closed = try shell(">&-", ["kill", "\(victim)", "--yes", "--audit-log", audit] + conn)
            expectOneLineFailure(closed, status: 16, mentioning: ["standard output is closed; nothing was done"])
            #expect(try server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = \(victim)").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            #expect(!FileManager.default.fileExists(atPath: audit), "nothing was done, nothing audited")
            // The preview goes to stderr; with fd 2 closed it used to go into the MySQL connection.
            let dry = try shell("2>&-", ["kill", "\(victim)", "--dry-run", "--json", "--audit-log", audit] + conn)
            #expect(dry.status == 0, "\(dry.stdout)")
            let outcome = try parseJSON(dry.stdout)
            let target = (outcome["targets"] as? [[String: Any]])?.first
            #expect(target?["outcome"] as? String == "dry-run" && target?["session_id"] as? Int == Int(victim), "\(dry.stdout)")
            withExtendedLifetime(clients) {}
        }

        @Test("COLUMNS does not cut piped output")
        func columnsPiped() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:busy:1"])
            let r = try myconn(["list", "--no-defaults", "-uroot", "-S", server.socketPath], environment: ["COLUMNS": "40", "PATH": "/usr/bin:/bin"])
            #expect(r.status == 0)
            #expect(r.stdout.split(separator: "\n").contains { $0.count > 40 }, "a full-width line: \(r.stdout)")
            withExtendedLifetime(clients) {}
        }

        @Test("arguments: 40,000 ids parsed at once; nan, negative numbers, unknown options and kill --method named")
        func arguments() throws {
            let many = (1...40_000).map(String.init)
            expectOneLineFailure(try myconn(["kill"] + many + ["--frobnicate"]), status: 64, mentioning: ["Unknown option '--frobnicate'"])
            // All 40,000 reach the command: the first unknown one is named (no server: -S to nothing).
            let all = try myconn(["kill"] + many + ["--yes", "--no-defaults", "-S", "/nonexistent.sock"])
            #expect(all.status == 2, "\(all.stderr)")
            let rows: [([String], [String])] = [
                (["close", "5", "--wait", "nan"], ["--wait must be a finite number, not nan"]),
                (["probe", "5", "--timeout", "inf"], ["--timeout must be a finite number, not inf"]),
                (["list", "--pid", "-1"], ["--pid -1: negative numbers are not accepted"]),
                (["close", "--pid", "1", "--fd", "-3"], ["--fd -3: negative numbers are not accepted"]),
                (["close", "5", "--wait", "-1"], ["--wait -1: negative numbers"]),
                (["close", "-5"], ["-5: negative numbers are not accepted, as session ids"]),
                (["kill", "9", "--method", "ptrace"], ["kill ends sessions through SQL and has no --method", "myconn close ID --method"]),
                (["kill", "9", "--metho", "ptrace"], ["'ptrace' is not a session id"]),
                (["kill", "99999999999999999999999"], ["'99999999999999999999999' is not a session id"]),
                (["zombies", "--idle=-5"], ["--idle must be 0 or more seconds"]),
            ]
            for (args, words) in rows {
                expectOneLineFailure(try myconn(args), status: 64, mentioning: words)
            }
        }

        @Test("a malformed option file stops with its file and line (status 64); the connection is not made")
        func optionFiles() throws {
            let server = try TestServer()
            let dir = server.dir
            func file(_ name: String, _ bytes: [UInt8]) throws -> String {
                let path = dir.appendingPathComponent(name).path
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                return path
            }
            let before = try file("before.cnf", Array("user=root\nsocket=\(server.socketPath)\n".utf8))
            let binary = try file("binary.cnf", [0x5b, 0x63, 0x5d, 0x0a, 0x00, 0x01, 0xff, 0xfe, 0x0a])
            let unclosed = try file("unclosed.cnf", Array("[client]\nuser=root\n[client\n".utf8))
            let words = try file("words.cnf", Array("[mysqld]\nanything here is mysqld's\n[client]\nthis is not an option\n".utf8))
            let including = try file("including.cnf", Array("[client]\nsocket=\(server.socketPath)\n!include \(before)\n".utf8))
            let cases: [(String, [String])] = [
                (before, ["\(before) line 1", "comes before any [group]"]),
                (binary, ["\(binary) line 2", "not text"]),
                (unclosed, ["\(unclosed) line 3", "has no ]"]),
                (words, ["\(words) line 4", "'this is not an option' is not key=value"]),
                (including, ["\(before) line 1"]),
                ("/nonexistent.cnf", ["/nonexistent.cnf: --defaults-file cannot be read"]),
            ]
            for (path, mentioning) in cases {
                expectOneLineFailure(try myconn(["list", "--defaults-file=\(path)", "-S", server.socketPath]), status: 64, mentioning: mentioning)
            }
            // ~/.my.cnf is checked too; a good one is read.
            let home = dir.appendingPathComponent("home").path
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: before, toPath: home + "/.my.cnf")
            expectOneLineFailure(try myconn(["list", "-uroot", "-S", server.socketPath], environment: ["HOME": home]), status: 64,
                                 mentioning: ["\(home)/.my.cnf line 1"])
            let good = try file("good.cnf", Array("# comment\n[client]\nuser = root\nsocket=\(server.socketPath)\n[mysqld]\nskip-name-resolve\n".utf8))
            let ok = try myconn(["list", "--json", "--defaults-file=\(good)"])
            #expect(ok.status == 0, "\(ok.stderr)")
        }

        @Test("audit paths: a named directory is not made, a symlink is refused, no HOME gives no /tmp default (status 10)")
        func auditPaths() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"])
            let victim = "\(clients.sessions[0].id)"
            let conn = ["--no-defaults", "-uroot", "-S", server.socketPath]
            let missing = server.dir.appendingPathComponent("no/such/dir/audit.log").path
            expectOneLineFailure(try myconn(["kill", victim, "--yes", "--audit-log", missing] + conn), status: 10,
                                 mentioning: ["its directory must exist", "nothing was done"])
            #expect(!FileManager.default.fileExists(atPath: server.dir.appendingPathComponent("no").path))
            let target = server.dir.appendingPathComponent("elsewhere").path
            FileManager.default.createFile(atPath: target, contents: Data())
            let link = server.dir.appendingPathComponent("link.log").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            expectOneLineFailure(try myconn(["kill", victim, "--yes", "--audit-log", link] + conn), status: 10,
                                 mentioning: ["it is a symbolic link"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)).isEmpty)
            #expect(try server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = \(victim)").trimmingCharacters(in: .whitespacesAndNewlines) == "1", "nothing killed")
            // A user with no HOME: no audit log under a shared /tmp.
            let copy = server.dir.appendingPathComponent("myconn").path
            try FileManager.default.copyItem(atPath: bin, toPath: copy)
            chmod(copy, 0o755)
            let nobody = try run("/usr/bin/env", ["-i", "/usr/sbin/runuser", "-u", "nobody", "--", "/usr/bin/env", "-u", "HOME",
                                                 copy, "kill", victim, "--yes", "--no-defaults", "-uroot", "-h127.0.0.1", "-P\(server.port)"])
            expectOneLineFailure(nobody, status: 10, mentioning: ["neither HOME nor XDG_STATE_HOME", "pass --audit-log PATH"])
            #expect(!FileManager.default.fileExists(atPath: "/tmp/.local/state/myconn"))
        }

        @Test("--netns-of a namespace that cannot be entered: status 2 (nothing listed), not 6, and no 'run as root' to root")
        func netnsOf() throws {
            let server = try TestServer()
            let copy = server.dir.appendingPathComponent("myconn").path
            try FileManager.default.copyItem(atPath: bin, toPath: copy)
            chmod(copy, 0o755)
            let r = try run("/usr/sbin/runuser", ["-u", "nobody", "--", copy, "list", "--netns-of", "\(server.pid)",
                                                  "--no-defaults", "-uroot", "-h127.0.0.1", "-P\(server.port)"])
            expectOneLineFailure(r, status: 2, mentioning: ["cannot enter the network namespace of pid \(server.pid)", "needs root", "nothing was listed"])
        }

        @Test("-pSECRET and --password=SECRET are overwritten in /proc/<pid>/cmdline while serve runs")
        func passwordInArgv() throws {
            let server = try TestServer()
            try server.sql("CREATE USER 'ops'@'localhost' IDENTIFIED BY 'S3cretPw'; GRANT PROCESS, SUPER ON *.* TO 'ops'@'localhost'")
            for form in [["-pS3cretPw"], ["--password=S3cretPw"]] {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: bin)
                p.arguments = ["serve", "--no-defaults", "-uops"] + form + ["-S", server.socketPath, "--listen", "127.0.0.1:0",
                                                                          "--audit-log", server.dir.appendingPathComponent("serve.log").path]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                defer { p.terminate(); p.waitUntilExit() }
                var cmdline = ""
                for _ in 0..<100 {
                    usleep(20_000)
                    cmdline = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/cmdline", encoding: .utf8)) ?? ""
                    if cmdline.contains("xxxxxxxx") { break }
                }
                #expect(!cmdline.contains("S3cretPw"), "\(cmdline)")
                #expect(cmdline.contains("xxxxxxxx"), "overwritten in place: \(cmdline)")
                // The login worked with the real password: a session of user ops exists.
                var logged = "0"
                for _ in 0..<100 where logged == "0" {
                    usleep(50_000)
                    logged = try server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'ops'").trimmingCharacters(in: .whitespacesAndNewlines)
                }
                #expect(logged != "0", "serve logged in with the password it was given")
            }
        }

        @Test("--source proc: unix-socket sessions proven and their clients found through unix_diag, no warning")
        func sourceProc() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["unix:idle:2"])
            let r = try myconn(["list", "--json", "--clients", "--source", "proc", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0 && r.stderr.isEmpty, "no warning: \(r.stderr)")
            let json = try parseJSON(r.stdout)
            #expect((json["warnings"] as? [Any])?.isEmpty == true)
            let sessions = try #require(json["sessions"] as? [[String: Any]])
            for c in clients.sessions {
                let s = try #require(sessions.first { $0["id"] as? Int == Int(c.id) })
                #expect(s["fd"] is Int, "proven: \(s)")
                #expect(s["clients"] != nil && !(s["clients"] is NSNull), "client found: \(s)")
            }
        }

        @Test("messages that pointed the wrong way: a session unseen without PROCESS, Too many connections on kill and zombies")
        func messages() throws {
            let server = try TestServer(extraArgs: ["--max-connections=10"])
            try server.sql("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'pw'; CREATE USER 'app'@'localhost' IDENTIFIED BY 'pw'")
            let root = try DemoClientsProcess(server: server, specs: ["tcp4:idle:1"])
            let other = root.sessions[0].id
            let audit = server.dir.appendingPathComponent("audit.log").path
            let unseen = try myconn(["kill", "\(other)", "--yes", "--audit-log", audit, "--no-defaults", "-uapp", "-ppw", "-h127.0.0.1", "-P\(server.port)"])
            expectOneLineFailure(unseen, status: 7, mentioning: ["no session \(other) among this user's own", "PROCESS privilege", "it may exist"])
            let seen = try myconn(["kill", "999999", "--yes", "--audit-log", audit, "--no-defaults", "-uroot", "-S", server.socketPath])
            expectOneLineFailure(seen, status: 7, mentioning: ["no session 999999 on this server"])
            // The application's account fills the server (root may exceed max_connections).
            let app = try DemoClientsProcess(server: server, specs: ["tcp4:idle:9"], user: "app", password: "pw")  // with root's one: 10, full
            for args in [["kill", "\(app.sessions[0].id)", "--yes", "--audit-log", audit], ["zombies"]] {
                let r = try myconn(args + ["--no-defaults", "-uapp", "-ppw", "-h127.0.0.1", "-P\(server.port)"])
                expectOneLineFailure(r, status: 4, mentioning: ["Too many connections", "myconn list --no-sql", "myconn close --pid PID --peer"])
            }
            withExtendedLifetime((root, app)) {}
        }

        @Test("SIGSTOP and SIGCONT of mysqld: an idle unix-socket session is not proven, and the reason says why (restart_syscall)")
        func stoppedAndContinued() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["unix:idle:1"])
            let id = clients.sessions[0].id
            kill(server.pid, SIGSTOP)
            usleep(200_000)
            kill(server.pid, SIGCONT)
            usleep(200_000)
            let r = try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            let sessions = try #require(try parseJSON(r.stdout)["sessions"] as? [[String: Any]])
            let s = try #require(sessions.first { $0["id"] as? Int == Int(id) })
            #expect(s["fd"] is NSNull, "not proven while its thread is in restart_syscall: \(s)")
            let why = s["unresolved"] as? String ?? ""
            #expect(why.contains("restart_syscall") && why.contains("stopped and continued") && why.contains("next statement"), "\(why)")
            // Cutting it by id is refused, pointing to what root can do instead.
            let close = try myconn(["close", "\(id)", "--yes", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                                    "--no-defaults", "-uroot", "-S", server.socketPath])
            expectOneLineFailure(close, status: 7, mentioning: ["is not proven", "restart_syscall", "name the socket with --pid and --fd"])
            withExtendedLifetime(clients) {}
        }
    }
}
