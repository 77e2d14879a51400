import Foundation
import Testing

extension RealServer {
    /// `myconn fault` on a real mariadbd: one victim among neighbours that loop `SELECT <own id>`
    /// every 100 ms through libmariadb (each row checked to be the session's own: the same
    /// connection throughout), the rules
    /// read back from the kernel (`nft -j`), and nothing of ours left afterwards.
    @Suite("fault: blackhole, loss and rate on one session's connection, in the kernel; list, heal, expiry")
    struct FaultTests {
        func fault(_ server: TestServer, _ args: [String]) throws -> RunResult {
            try myconn(["fault"] + args + ["--json", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                                           "--no-defaults", "-uroot", "-S", server.socketPath])
        }

        /// Our tables as the kernel has them (inet: the input chain; netdev: the egress chains),
        /// their items together: nil when there is neither.
        func table() throws -> [[String: Any]]? {
            let tables = try parseJSON(try run("/usr/sbin/nft", ["-j", "list", "tables"]).stdout)["nftables"] as? [[String: Any]] ?? []
            let ours = tables.compactMap { $0["table"] as? [String: Any] }.filter { $0["name"] as? String == "myconn" }.compactMap { $0["family"] as? String }
            guard !ours.isEmpty else { return nil }
            var items: [[String: Any]] = []
            for family in ours {
                let r = try run("/usr/sbin/nft", ["-j", "list", "table", family, "myconn"])
                items += try #require(try parseJSON(r.stdout)["nftables"] as? [[String: Any]])
            }
            return items
        }

        /// A tcp_info counter of each of mysqld's IPv4 connections, by the client's end, as the
        /// kernel shows it (`ss -ti`): the tests' own oracle.
        func tcpCounter(_ name: String, _ server: TestServer) throws -> [String: Int] {
            var out: [String: Int] = [:]
            let ss = try run("/usr/bin/ss", ["-tinH", "state", "established", "( sport = :\(server.port) )"]).stdout
            var peer: String?
            for token in ss.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
                if token.hasPrefix("127.0.0.1:") && !token.hasSuffix(":\(server.port)") { peer = String(token) }
                if token.hasPrefix(name + ":"), let p = peer { out[p] = Int(token.dropFirst(name.count + 1)); peer = nil }
            }
            return out
        }

        /// Shaping qdiscs on the namespace's interfaces (myconn makes none: its faults are all
        /// nftables; this checks that nothing left one behind).
        func shapingQdiscs() throws -> [String] {
            try run("/usr/sbin/tc", ["qdisc", "show"]).stdout.split(separator: "\n").map(String.init)
                .filter { $0.contains(" htb ") || $0.contains(" tbf ") || $0.contains(" netem ") || $0.contains(" prio ") }
        }

        /// Every set element of our tables, as "src:sport>dst:dport".
        func elements() throws -> [String] {
            var out: [String] = []
            for item in try table() ?? [] {
                guard let set = item["set"] as? [String: Any] else { continue }
                for e in (set["elem"] as? [Any]) ?? [] {
                    let val = ((e as? [String: Any])?["elem"] as? [String: Any])?["val"] ?? e
                    let c = ((val as? [String: Any])?["concat"] as? [Any]) ?? []
                    if c.count == 4 { out.append("\(c[0]):\(c[1])>\(c[2]):\(c[3])") }
                }
            }
            return out
        }

        /// The test's own clean-up, whatever myconn did: our table out of this namespace.
        func dropTable() { for f in ["inet", "netdev"] { _ = try? run("/usr/sbin/nft", ["delete", "table", f, "myconn"]) } }

        func listed(_ server: TestServer) throws -> [String: Any] {
            let r = try fault(server, ["--list"])
            #expect(r.status == 0, "\(r.stderr)")
            return try parseJSON(r.stdout)
        }

        @Test("--blackhole --for 3s: the victim's queries stall with no error, then go on on the same connection; the neighbours never stall; the kernel expires it and nothing of ours is left")
        func blackholeFor() throws {
            defer { dropTable() }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:4"], pauseMilliseconds: 100)
            let victim = clients.sessions[0]
            usleep(500_000)
            let started = Date()
            let r = try fault(server, [String(victim.id), "--blackhole", "--for", "3s", "--yes"])
            #expect(r.status == 0, "\(r.stderr)")
            let t = try #require((try parseJSON(r.stdout)["targets"] as? [[String: Any]])?.first)
            #expect(t["outcome"] as? String == "done" && t["fault"] as? String == "blackhole" && t["until"] is Int, "\(t)")
            // The kernel holds exactly the victim's 4-tuple, both ways, and nothing else.
            let port = String(victim.local.split(separator: ":").last!)
            let elems = try elements()
            #expect(elems.count == 2 && elems.allSatisfy { $0.contains(":\(port)>") || $0.hasSuffix(":\(port)") }, "\(elems)")
            let faults = try #require(try listed(server)["faults"] as? [[String: Any]])
            #expect(faults.count == 1 && faults.first?["session_id"] as? Int == Int(victim.id) && faults.first?["client"] as? String == victim.local,
                    "\(faults)")
            let places = (faults.first?["where"] as? [String]) ?? []
            #expect(places.contains { $0.hasPrefix("inet input#") } && places.contains { $0.hasPrefix("netdev egress lo#") },
                    "where: the input chain and each interface's egress, by name: \(places)")
            // TCP's retransmission backoff: after the fault expires the next retransmit gets
            // through within a few seconds.
            usleep(9_000_000)
            let summaries = clients.finish()
            let v = try #require(summaries[victim.id])
            #expect(v.errorCode == nil && v.wrongRows == 0 && v.ok > 0, "the victim saw no error and stayed on its connection: \(v)")
            #expect(v.maxGapUs >= 2_500_000, "the victim stalled for the fault's 3 s: longest gap \(v.maxGapUs) us")
            for s in clients.sessions.dropFirst() {
                let n = try #require(summaries[s.id])
                #expect(n.errorCode == nil && n.maxGapUs < 1_000_000, "neighbour \(s.id) never stalled: \(n)")
            }
            #expect(Date().timeIntervalSince(started) < 15)
            // Expired: the next call removes its rules and our table with them.
            let after = try listed(server)
            #expect((after["faults"] as? [Any])?.isEmpty == true && (after["removed"] as? [Any])?.count == 1, "\(after)")
            #expect(try table() == nil, "no table of ours left")
            #expect(try shapingQdiscs().isEmpty, "and no qdisc")
            let audit = try String(contentsOfFile: server.dir.appendingPathComponent("audit.log").path, encoding: .utf8)
            #expect(audit.contains("\"method\":\"sweep\"") && audit.contains("\"message\":\"expired\""), "the sweep is on record")
        }

        /// Issue 14, section 3: a SIGKILL of myconn cannot undo anything, so a fault with
        /// --for lives in the kernel with its own timeout (set elements that expire).
        @Test("SIGKILL of fault --blackhole/--loss --for 2s at random moments: whatever reached the kernel expires there; every session goes on on its own connection")
        func killedFault() throws {
            defer { dropTable() }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:4"], pauseMilliseconds: 100)
            usleep(500_000)
            var generator = SystemRandomNumberGenerator()
            var inKernel = 0
            let rounds = 6
            for round in 0..<rounds {
                let victim = clients.sessions[round % 3]  // the fourth session is never targeted
                let p = Process()
                p.executableURL = productsDir.appendingPathComponent("myconn")
                p.arguments = ["fault", String(victim.id)] + (round % 2 == 0 ? ["--blackhole"] : ["--loss", "50"])
                    + ["--for", "2s", "--yes", "--json", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                       "--no-defaults", "-uroot", "-S", server.socketPath]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                usleep(UInt32.random(in: 100_000...400_000, using: &generator))
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                if try !elements().isEmpty { inKernel += 1 }
                usleep(2_300_000)
                #expect(try elements().isEmpty, "round \(round): the kernel expired the fault within its 2 s")
            }
            usleep(5_000_000)  // TCP's retransmission backoff after a blackhole
            let summaries = clients.finish()
            for s in clients.sessions {
                let v = try #require(summaries[s.id])
                #expect(v.errorCode == nil && v.wrongRows == 0 && v.ok > 0, "session \(s.id) stayed on its connection: \(v)")
            }
            let neighbour = try #require(summaries[clients.sessions[3].id])
            #expect(neighbour.maxGapUs < 1_000_000, "the untargeted session never stalled: \(neighbour)")
            #expect(inKernel > 0, "some kills came after the fault was in the kernel (\(inKernel) of \(rounds))")
            print("killedFault: \(rounds) kills, \(inKernel) after the fault reached the kernel")
        }

        @Test("--loss 30: retransmissions in the victim's tcp_info only; --heal removes it; every neighbour's count stays 0")
        func lossAndHeal() throws {
            defer { dropTable() }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:4"])  // unpaced: enough packets for 30% to hit in 2 s
            defer { withExtendedLifetime(clients) {} }
            let victim = clients.sessions[0]
            usleep(300_000)
            let r = try fault(server, [String(victim.id), "--loss", "30", "--yes"])
            #expect(r.status == 0, "\(r.stderr)")
            usleep(2_000_000)
            let list = try parseJSON(try myconn(["list", "--json", "--no-defaults", "-uroot", "-S", server.socketPath]).stdout)
            let sessions = try #require(list["sessions"] as? [[String: Any]])
            func retrans(_ id: UInt64) -> Int? { sessions.first { $0["id"] as? Int == Int(id) }?["total_retrans"] as? Int }
            #expect((retrans(victim.id) ?? 0) > 0, "the victim retransmits: \(retrans(victim.id) ?? -1)")
            for s in clients.sessions.dropFirst() { #expect(retrans(s.id) == 0, "neighbour \(s.id): \(retrans(s.id) ?? -1)") }
            let heal = try fault(server, ["--heal", String(victim.id), "--yes"])
            #expect(heal.status == 0, "\(heal.stderr)")
            #expect((try parseJSON(heal.stdout)["healed"] as? [Any])?.count == 1)
            #expect(try table() == nil, "the last fault healed takes our table with it")
            #expect(try shapingQdiscs().isEmpty, "and no qdisc")
            let audit = try String(contentsOfFile: server.dir.appendingPathComponent("audit.log").path, encoding: .utf8)
            #expect(audit.contains("\"method\":\"heal\"") && audit.contains("\"method\":\"loss\""), "both on record")
            let summaries = clients.finish()
            #expect(summaries[victim.id]?.errorCode == nil && summaries[victim.id]?.wrongRows == 0, "loss slows, it does not break: \(summaries[victim.id].map { "\($0)" } ?? "-")")
        }

        @Test("--rate 800 (mysqld's packets): the victim's stream slows to the rate, its neighbour's does not")
        func rate() throws {
            defer { dropTable() }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:stream:2"])
            defer { withExtendedLifetime(clients) {} }  // killed at the end: a rate-limited stream would drain for minutes
            let (victim, neighbour) = (clients.sessions[0], clients.sessions[1])
            let r = try fault(server, [String(victim.id), "--rate", "800", "--direction", "to-client", "--yes"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try elements().count == 1, "to-client only: one element")
            // The oracle: bytes the clients acknowledged, as the kernel counts them (ss -ti), over 2 s.
            func acked() throws -> [String: Int] { try tcpCounter("bytes_acked", server) }
            usleep(500_000)
            let a0 = try acked()
            usleep(2_000_000)
            let a1 = try acked()
            let v = (a1[victim.local] ?? 0) - (a0[victim.local] ?? 0), n = (a1[neighbour.local] ?? 0) - (a0[neighbour.local] ?? 0)
            // 800 kbit/s is 100 kB/s: about 200 kB in 2 s.
            #expect(v > 50_000 && v < 400_000, "victim: \(v) bytes in 2 s")
            #expect(n > 10 * v, "neighbour: \(n) bytes in 2 s against the victim's \(v)")
            _ = try fault(server, ["--heal", "--all", "--yes"])
            #expect(try table() == nil)
        }

        @Test("a blackholed session with data in flight is peer-unreachable; probe finds it dead; its fault goes with its socket")
        func blackholeIsPeerUnreachable() throws {
            defer { dropTable() }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:busy:1", "tcp4:idle:1"], sleepSeconds: 2)
            defer { withExtendedLifetime(clients) {} }
            let victim = clients.sessions[0]
            let r = try fault(server, [String(victim.id), "--blackhole", "--yes"])
            #expect(r.status == 0, "\(r.stderr)")
            // SLEEP(2) ends and its result meets the blackhole: retransmitted, never acknowledged.
            var classes: [String] = []
            for _ in 0..<60 {
                let z = try parseJSON(try myconn(["zombies", "--json", "--no-defaults", "-uroot", "-S", server.socketPath]).stdout)
                let row = (z["sessions"] as? [[String: Any]])?.first { $0["id"] as? Int == Int(victim.id) }
                classes = (row?["zombie"] as? [String]) ?? []
                if classes.contains("peer-unreachable") { break }
                usleep(200_000)
            }
            #expect(classes.contains("peer-unreachable"), "\(classes)")
            let probe = try myconn(["probe", String(victim.id), "--yes", "--json", "--timeout", "20", "--no-defaults", "-uroot", "-S", server.socketPath,
                                    "--audit-log", server.dir.appendingPathComponent("audit.log").path])
            #expect(probe.status == 11, "probe found it dead: \(probe.stdout) \(probe.stderr)")
            let after = try listed(server)
            #expect((after["faults"] as? [Any])?.isEmpty == true && (after["removed"] as? [Any])?.count == 1,
                    "the socket is gone, so is its fault: \(after)")
            #expect(try table() == nil)
        }

        @Test("two mysqlds in one network namespace share our table, not their faults: a sweep, a list and a heal --all for one leave the other's")
        func twoServers() throws {
            defer { dropTable() }
            let a = try TestServer(), b = try TestServer()
            let ca = try DemoClientsProcess(server: a, specs: ["tcp4:idle:1"]), cb = try DemoClientsProcess(server: b, specs: ["tcp4:idle:1"])
            defer { withExtendedLifetime((ca, cb)) {} }
            #expect(try fault(a, [String(ca.sessions[0].id), "--blackhole", "--yes"]).status == 0)
            #expect(try fault(b, [String(cb.sessions[0].id), "--loss", "5", "--yes"]).status == 0)
            #expect((try listed(a)["faults"] as? [[String: Any]])?.map { $0["fault"] as? String } == ["blackhole"])
            #expect((try listed(b)["faults"] as? [[String: Any]])?.map { $0["fault"] as? String } == ["loss:5"])
            #expect(try fault(b, ["--heal", "--all", "--yes"]).status == 0)
            #expect((try listed(a)["faults"] as? [Any])?.count == 1, "a's fault outlives b's heal")
            #expect(try table() != nil)
            #expect(try fault(a, ["--heal", "--all", "--yes"]).status == 0)
            #expect(try table() == nil, "the last heal takes the table")
        }

        @Test("--half-close write: the client reads EOF (a lost connection, no reset); --reset: the destroy cut; a dry run makes nothing; the neighbour keeps working")
        func halfCloseAndReset() throws {
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:3"], pauseMilliseconds: 100)
            let s = clients.sessions
            usleep(300_000)
            // A dry run checks the target as acting would, and makes nothing.
            let dry = try fault(server, [String(s[2].id), "--blackhole", "--dry-run"])
            let dryOutcome = ((try? parseJSON(dry.stdout))?["targets"] as? [[String: Any]])?.first?["outcome"] as? String
            #expect(dry.status == 0 && dryOutcome == "dry-run", "\(dry.stderr)")
            #expect(try table() == nil, "a dry run makes no rule")
            let half = try fault(server, [String(s[0].id), "--half-close", "write", "--yes"])
            #expect(half.status == 0, "\(half.stderr)")
            #expect((try parseJSON(half.stdout)["method"] as? String) == "half-close-write")
            let reset = try fault(server, [String(s[1].id), "--reset", "--yes"])
            #expect(reset.status == 0, "\(reset.stderr)")
            usleep(500_000)
            let summaries = clients.finish()
            #expect(summaries[s[0].id]?.errorCode == "2013", "EOF: lost connection during query: \(summaries[s[0].id].map { "\($0)" } ?? "-")")
            #expect(["2013", "2006"].contains(summaries[s[1].id]?.errorCode ?? ""), "reset: \(summaries[s[1].id].map { "\($0)" } ?? "-")")
            #expect(summaries[s[2].id]?.errorCode == nil && (summaries[s[2].id]?.ok ?? 0) > 0, "the neighbour kept working")
            #expect(try table() == nil, "neither makes a rule")
        }

        @Test("--delay 300 (mysqld's packets) --for 4s: the victim's round trip grows by 300 ms, its neighbours' stay at their baseline; its queries go on on the same connection; its rules leave with it")
        func delay() throws {
            defer { dropTable() }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:4"], pauseMilliseconds: 100)
            let victim = clients.sessions[0]
            usleep(300_000)
            // The oracle: data segments mysqld sent on each connection, as the kernel counts them
            // (ss -ti data_segs_out). A loop session sends one reply per query and pauses 100 ms, so
            // over 2 s a round trip of 300 ms or more allows at most 2 / 0.4 + 1 of them, and a
            // neighbour's baseline (well under a millisecond) about 20.
            func segments() throws -> [String: Int] { try tcpCounter("data_segs_out", server) }
            let bin = productsDir.appendingPathComponent("myconn").path
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = ["fault", String(victim.id), "--delay", "300", "--direction", "to-client", "--for", "4s", "--yes", "--json",
                           "--audit-log", server.dir.appendingPathComponent("audit.log").path, "--no-defaults", "-uroot", "-S", server.socketPath]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(1_000_000)
            let s0 = try segments()
            usleep(2_000_000)
            let s1 = try segments()
            p.waitUntilExit()
            let result = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(p.terminationStatus == 0, "\(result)")
            let t = try #require((try parseJSON(result)["targets"] as? [[String: Any]])?.first)
            #expect(t["outcome"] as? String == "done" && (t["packets"] as? Int ?? 0) > 0, "\(t)")
            func sent(_ c: DemoClientsProcess.Session) -> Int { (s1[c.local] ?? 0) - (s0[c.local] ?? 0) }
            #expect(sent(victim) >= 1 && sent(victim) <= 6, "the victim's replies in 2 s of the delay: \(sent(victim)) (one per round trip of >= 300 ms)")
            for c in clients.sessions.dropFirst() {
                #expect(sent(c) >= 15, "neighbour \(c.id) went on at its own pace: \(sent(c)) replies in the same 2 s")
            }
            usleep(500_000)
            let summaries = clients.finish()
            let vs = try #require(summaries[victim.id])
            #expect(vs.errorCode == nil && vs.wrongRows == 0 && vs.maxGapUs >= 300_000, "the victim slowed, on its own connection: \(vs)")
            for s in clients.sessions.dropFirst() { #expect(summaries[s.id]?.errorCode == nil && (summaries[s.id]?.maxGapUs ?? 999_999) < 100_000) }
            #expect(try queueRules() == 0, "no NFQUEUE rule left in table ip mangle")
            #expect(try table() == nil, "nor the delay's record")
            #expect(try shapingQdiscs().isEmpty, "nor a qdisc")
        }

        /// NFQUEUE rules in table ip mangle (iptables-nft's; nftables shows their target as `xt`).
        func queueRules() throws -> Int {
            let r = try run("/usr/sbin/nft", ["-j", "list", "table", "ip", "mangle"])
            guard r.status == 0 else { return 0 }  // no such table
            return r.stdout.components(separatedBy: "\"name\": \"NFQUEUE\"").count - 1
        }

        @Test("a delay without --for runs until INT, TERM or HUP, then takes its rules and record out (status 13, interrupted)",
              arguments: [SIGINT, SIGTERM, SIGHUP])
        func delayUntilSignal(signal: Int32) throws {
            defer { dropTable(); _ = try? run("/usr/sbin/iptables", ["-t", "mangle", "-F"]) }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:1"], pauseMilliseconds: 100)
            defer { withExtendedLifetime(clients) {} }
            usleep(300_000)
            let p = Process()
            p.executableURL = productsDir.appendingPathComponent("myconn")
            p.arguments = ["fault", String(clients.sessions[0].id), "--delay", "100,20", "--yes", "--json",
                           "--audit-log", server.dir.appendingPathComponent("audit.log").path, "--no-defaults", "-uroot", "-S", server.socketPath]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            var rules = 0
            for _ in 0..<50 where rules < 2 { usleep(100_000); rules = try queueRules() }
            #expect(rules == 2)
            kill(p.processIdentifier, signal)
            p.waitUntilExit()
            let result = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            // 13, as for every action a signal ends: the delay was in place, and is healed.
            #expect(p.terminationStatus == 13, "\(result)")
            let t = (try? parseJSON(result))?["targets"] as? [[String: Any]]
            let name = [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP"][signal]!
            #expect((t?.first?["ended"] as? String)?.hasPrefix(name) == true, "\(result)")
            #expect(try queueRules() == 0 && (try table()) == nil, "healed on the way out")
        }

        @Test("a delay on two sessions at once: each gets a queue of its own (the second queue number tried is taken by the first: that refusal once freed libnetfilter_queue's handle twice)")
        func delayTwoTargets() throws {
            defer { dropTable(); _ = try? run("/usr/sbin/iptables", ["-t", "mangle", "-F"]) }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:2"], pauseMilliseconds: 100)
            defer { withExtendedLifetime(clients) {} }
            let r = try myconn(["fault", String(clients.sessions[0].id), String(clients.sessions[1].id), "--delay", "50", "--for", "1s",
                                "--yes", "--json", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                                "--no-defaults", "-uroot", "-S", server.socketPath])
            #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
            let t = try parseJSON(r.stdout)["targets"] as? [[String: Any]] ?? []
            #expect(t.count == 2 && t.allSatisfy { $0["outcome"] as? String == "done" && ($0["packets"] as? Int ?? 0) > 0 }, "\(t)")
            #expect(Set(t.compactMap { $0["queue"] as? Int }).count == 2, "two queues")
            #expect(try queueRules() == 0 && (try table()) == nil, "healed on the way out")
        }

        @Test("a delay whose myconn is SIGKILLed lets packets through (--queue-bypass), and the next fault call removes its rules from its record")
        func delayKilled() throws {
            defer { dropTable(); _ = try? run("/usr/sbin/iptables", ["-t", "mangle", "-F"]) }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["tcp4:loop:2"], pauseMilliseconds: 100)
            let victim = clients.sessions[0]
            usleep(300_000)
            let p = Process()
            p.executableURL = productsDir.appendingPathComponent("myconn")
            p.arguments = ["fault", String(victim.id), "--delay", "300", "--yes", "--audit-log", server.dir.appendingPathComponent("audit.log").path,
                           "--no-defaults", "-uroot", "-S", server.socketPath]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            var rules = 0
            for _ in 0..<50 where rules < 2 { usleep(100_000); rules = try queueRules() }
            #expect(rules == 2, "the delay's rules are in: OUTPUT and PREROUTING (both ways)")
            usleep(1_000_000)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(try queueRules() == 2 && (try table()) != nil, "killed: its rules and record stay")
            usleep(1_500_000)  // with no one serving the queue, packets bypass it
            let listed = try fault(server, ["--list"])
            #expect(listed.status == 0, "\(listed.stderr)")
            #expect(try queueRules() == 0 && (try table()) == nil, "the next fault call removed the rule and the record")
            let summaries = clients.finish()
            #expect(summaries[victim.id]?.errorCode == nil && summaries[victim.id]?.wrongRows == 0, "the victim kept its connection: \(summaries[victim.id].map { "\($0)" } ?? "-")")
        }

        @Test("a fault of a mysqld that has exited is swept by the next fault call for another mysqld of the namespace")
        func orphanSwept() throws {
            defer { dropTable() }
            do {
                let a = try TestServer()
                let ca = try DemoClientsProcess(server: a, specs: ["tcp4:idle:1"])
                #expect(try fault(a, [String(ca.sessions[0].id), "--blackhole", "--yes"]).status == 0)
                #expect(try table() != nil)
            }  // a's clients and mysqld stop here; the rules stay
            #expect(try table() != nil, "nothing removed the rules yet")
            let b = try TestServer()
            let after = try listed(b)
            #expect((after["faults"] as? [Any])?.isEmpty == true && (after["removed"] as? [Any])?.count == 1, "\(after)")
            #expect(try table() == nil)
        }

        @Test("bad input: no fault, two faults, --loss 0, --for nonsense, --list with targets: one line, 64; a unix session is refused, nothing made")
        func badInput() throws {
            for args in [["1", "--yes"], ["1", "--blackhole", "--loss", "5"], ["1", "--loss", "0"], ["1", "--blackhole", "--for", "soon"],
                         ["--list", "1"], ["--all"]] {
                let r = try myconn(["fault"] + args + ["--no-defaults"])
                #expect(r.status == 64 && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.status) \(r.stderr)")
            }
            defer { dropTable() }
            let server = try TestServer()
            let clients = try DemoClientsProcess(server: server, specs: ["unix:idle:1"])
            defer { withExtendedLifetime(clients) {} }
            let r = try fault(server, [String(clients.sessions[0].id), "--blackhole", "--yes"])
            #expect(r.status == 8 || r.status == 7, "\(r.stderr)")
            #expect(try table() == nil, "nothing of ours made for a refused target")
        }
    }
}
