import Foundation
import Testing

extension RealServer {
    /// Each command run as `nobody` (mysqld runs as root) with exactly the capabilities the
    /// README's "Privileges" table gives it, through util-linux's `setpriv` (inheritable, ambient
    /// and bounding sets alike), and as a SQL user with exactly the grants it names; then with each
    /// capability it names taken away (and PROCESS, for the descriptor methods; CONNECTION ADMIN
    /// for kill): one line on stderr, the documented status, the session untouched.
    @Suite("privileges: each command with exactly what it needs works, and without one of them fails in one line")
    struct PrivilegeTests {
        let server: TestServer
        let clients: DemoClientsProcess
        let copy: String
        let audit: String

        init() throws {
            server = try TestServer()
            clients = try DemoClientsProcess(server: server, specs: ["tcp4:idle:8", "tcp6:idle:4"])
            // The grants of the table: PROCESS to see every session; CONNECTION ADMIN to KILL one
            // of another user (MariaDB 10.5+; SUPER before).
            _ = try server.sql("""
                CREATE USER mc_list@localhost; GRANT PROCESS ON *.* TO mc_list@localhost;
                CREATE USER mc_kill@localhost; GRANT PROCESS, CONNECTION ADMIN ON *.* TO mc_kill@localhost;
                CREATE USER mc_none@localhost;
                """)
            copy = server.dir.appendingPathComponent("myconn").path
            try FileManager.default.copyItem(atPath: productsDir.appendingPathComponent("myconn").path, toPath: copy)
            chmod(copy, 0o755)
            let dir = server.dir.appendingPathComponent("nobody")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
            chown(dir.path, 65534, 65534)
            chmod(dir.path, 0o700)
            audit = dir.appendingPathComponent("audit.log").path
        }

        /// `myconn ARGS` as uid/gid 65534 with only `caps` (setpriv names: sys_ptrace, ...).
        /// `sqlUser` mc_list has PROCESS alone, mc_kill PROCESS and CONNECTION ADMIN, mc_none nothing.
        func asNobody(_ caps: [String], sqlUser: String = "mc_list", _ args: [String]) throws -> RunResult {
            let log = args.first == "list" ? [] : ["--audit-log", audit]
            let set = (["-all"] + caps.map { "+" + $0 }).joined(separator: ",")
            return try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                "--inh-caps=\(set)", "--ambient-caps=\(set)", "--bounding-set=\(set)", "--", copy]
                           + args + log + ["--no-defaults", "-u\(sqlUser)", "-S", server.socketPath])
        }

        func present(_ id: UInt64) throws -> Bool {
            try server.sql("SELECT ID FROM information_schema.PROCESSLIST").split(separator: "\n").contains(Substring(String(id)))
        }

        static let fdCaps = ["sys_ptrace", "dac_read_search"]

        @Test("setpriv gives exactly the set asked for: nobody's effective set is CAP_SYS_PTRACE alone")
        func setprivWorks() throws {
            let r = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all,+sys_ptrace",
                                                 "--ambient-caps=-all,+sys_ptrace", "--bounding-set=-all,+sys_ptrace", "--",
                                                 "/bin/grep", "-E", "^(Uid|CapEff|CapBnd):", "/proc/self/status"])
            #expect(r.stdout.contains("CapEff:\t0000000000080000") && r.stdout.contains("CapBnd:\t0000000000080000"), "\(r.stdout)")
            #expect(r.stdout.contains("Uid:\t65534"))
        }

        @Test("list: PROCESS, and CAP_SYS_PTRACE with CAP_DAC_READ_SEARCH for the fd column; without either cap, status 6 and why")
        func list() throws {
            let full = try asNobody(Self.fdCaps, sqlUser: "mc_list", ["list", "--json"])
            #expect(full.status == 0, "\(full.stderr)")
            let sessions = try #require(try parseJSON(full.stdout)["sessions"] as? [[String: Any]])
            let demo = Set(clients.sessions.map(\.id))
            let listed = sessions.filter { ($0["id"] as? Int).map { demo.contains(UInt64($0)) } ?? false }
            #expect(listed.count == demo.count, "every session of another user, through PROCESS")
            #expect(listed.allSatisfy { $0["fd"] as? Int != nil }, "each with its fd")
            for caps in [["sys_ptrace"], ["dac_read_search"]] {
                let r = try asNobody(caps, sqlUser: "mc_list", ["list", "--json"])
                #expect(r.status == 6, "\(caps): \(r.stderr)")
                // Each thing missing is one warning that names what gives it (without
                // CAP_SYS_PTRACE the namespace link, too: the TCP table then comes from /proc).
                let warnings = r.stderr.split(separator: "\n")
                #expect(!warnings.isEmpty && warnings.allSatisfy { $0.hasPrefix("myconn: warning: ") && $0.contains("CAP_SYS_PTRACE") },
                        "\(caps): \(r.stderr)")
                #expect(warnings.contains { $0.contains("CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH") }, "\(caps): \(r.stderr)")
                #expect(r.stdout.contains("\"sessions\""), "the sessions are listed all the same")
            }
        }

        @Test("kill: PROCESS and CONNECTION ADMIN, no capability; without CONNECTION ADMIN the server refuses, status 8, session kept")
        func kill() throws {
            let refused = clients.sessions[0].id
            let r = try asNobody([], sqlUser: "mc_list", ["kill", "\(refused)", "--yes"])
            #expect(r.status == 8, "\(r.stderr)")
            #expect(r.stdout.contains("not owner of thread"), "\(r.stdout)")
            #expect(try present(refused))
            let done = try asNobody([], sqlUser: "mc_kill", ["kill", "\(refused)", "--yes"])
            #expect(done.status == 0, "\(done.stderr)")
            #expect(try !present(refused))
        }

        @Test("close --method ptrace and pidfd, probe: CAP_SYS_PTRACE with CAP_DAC_READ_SEARCH; one missing: status 7, untouched",
              arguments: [["close", "--method", "ptrace"], ["close", "--method", "pidfd"], ["probe"]])
        func descriptorMethods(command: [String]) throws {
            let index = command == ["probe"] ? 3 : command.last == "ptrace" ? 1 : 2
            let id = clients.sessions[index].id
            for caps in [["sys_ptrace"], ["dac_read_search"]] {
                let r = try asNobody(caps, command + ["\(id)", "--yes"])
                expectOneLineFailure(r, status: 7, mentioning: ["nothing was done", "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"])
                #expect(try present(id), "\(caps)")
            }
            // Without PROCESS the session of another user is not even seen.
            let unseen = try asNobody(Self.fdCaps, sqlUser: "mc_none", command + ["\(id)", "--yes"])
            expectOneLineFailure(unseen, status: 7, mentioning: ["without the PROCESS privilege", "nothing was done"])
            #expect(try present(id))
            let r = try asNobody(Self.fdCaps, command + ["\(id)", "--yes"])
            #expect(r.status == 0, "\(command): \(r.stderr)")
            if command == ["probe"] {
                #expect(r.stdout.contains("alive"), "\(r.stdout)")
            } else {
                #expect(r.stdout.contains("done"), "\(r.stdout)")
            }
        }

        @Test("close --method destroy: CAP_NET_ADMIN beside the descriptor caps; without it the kernel refuses, status 8, untouched")
        func destroy() throws {
            let id = clients.sessions[4].id
            let blind = try asNobody(["net_admin"], ["close", "\(id)", "--method", "destroy", "--yes"])
            expectOneLineFailure(blind, status: 7, mentioning: ["CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"])
            let r = try asNobody(Self.fdCaps, ["close", "\(id)", "--method", "destroy", "--yes"])
            #expect(r.status == 8, "\(r.stderr)")
            #expect(r.stdout.contains("needs CAP_NET_ADMIN in mysqld's network namespace"), "\(r.stdout)")
            #expect(try present(id))
            let done = try asNobody(Self.fdCaps + ["net_admin"], ["close", "\(id)", "--method", "destroy", "--yes"])
            #expect(done.status == 0, "\(done.stderr)")
            #expect(try !present(id))
        }

        @Test("fault: CAP_NET_ADMIN beside the descriptor caps; without it one line (libnftables' own not printed), status 9")
        func fault() throws {
            let id = clients.sessions[5].id
            let r = try asNobody(Self.fdCaps, ["fault", "\(id)", "--loss", "10", "--for", "3s", "--yes"])
            expectOneLineFailure(r, status: 9, mentioning: ["CAP_NET_ADMIN"])
            let blind = try asNobody(["net_admin"], ["fault", "\(id)", "--loss", "10", "--for", "3s", "--yes"])
            expectOneLineFailure(blind, status: 7, mentioning: ["CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"])
            // Nothing was made: no table of ours in the namespace (the only fault test running).
            let tables = try run("/usr/sbin/nft", ["list", "tables"])
            #expect(!tables.stdout.contains("myconn"), "\(tables.stdout)")
            let done = try asNobody(Self.fdCaps + ["net_admin"], ["fault", "\(id)", "--loss", "10", "--for", "3s", "--yes", "--json"])
            #expect(done.status == 0, "\(done.stderr)")
            let t = try #require(try parseJSON(done.stdout)["targets"] as? [[String: Any]]).first
            #expect(t?["outcome"] as? String == "done")
            // Healed as root, so no rule outlives the test (the 3 s expiry would, too).
            let heal = try myconn(["fault", "--heal", "\(id)", "--yes", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                                   "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(heal.status == 0, "\(heal.stderr)")
            #expect(try present(id), "a fault cuts nothing by itself")
        }
    }
}
