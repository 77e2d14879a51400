import Foundation
import Testing

/// The purpose-built victim (`myconn-test-victim`), its stdout collected on a background thread.
final class Victim: @unchecked Sendable {
    let process = Process()
    let input = Pipe()
    private let output = Pipe()
    private let lock = NSLock()
    private var text = ""
    private(set) var pid: Int32 = 0
    private(set) var tids: [String: Int32] = [:]

    init() throws {
        process.executableURL = productsDir.appendingPathComponent("myconn-test-victim")
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = output.fileHandleForReading
        Thread { [self] in
            while true {
                let d = handle.availableData
                if d.isEmpty { return }
                lock.withLock { text += String(decoding: d, as: UTF8.self) }
            }
        }.start()
        try waitFor { $0.contains("ready ") }
        for line in lines() {
            let f = line.split(separator: " ")
            if f.count == 3, f[0] == "tid", let tid = Int32(f[2]) { tids[String(f[1])] = tid }
            if f.count == 2, f[0] == "ready", let p = Int32(f[1]) { pid = p }
        }
    }

    func lines() -> [Substring] { lock.withLock { text }.split(separator: "\n") }

    func waitFor(seconds: Double = 5, _ condition: (String) -> Bool) throws {
        for _ in 0..<Int(seconds * 100) {
            if condition(lock.withLock({ text })) { return }
            usleep(10_000)
        }
        throw TestFailure("victim did not report in time:\n\(lock.withLock { text })")
    }

    func send(_ command: String) throws {
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
    }

    /// Every blocked call resumes and works: each thread gets its event, the sleeper's sleeps
    /// last their full second, and nothing traces or stops the victim.
    func expectHealthy(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let marker = "\(lines().count)"
        for (cmd, expect) in [("poll \(marker.last!)", "poll ok \(marker.last!)"), ("read r", "read ok r"),
                              ("epoll e", "epoll ok e"), ("accept", "accept ok"), ("futex", "futex ok")] {
            let before = lines().filter { $0 == expect }.count
            try send(cmd)
            try waitFor { $0.split(separator: "\n").filter { $0 == expect }.count > before }
        }
        let sleeps = lines().filter { $0.hasPrefix("nanosleep ") }
        #expect(!sleeps.isEmpty, sourceLocation: sourceLocation)
        for s in sleeps {
            let f = s.split(separator: " ")
            #expect(f[1] == "ok", "\(s)", sourceLocation: sourceLocation)
            let ms = Int(f[2]) ?? 0
            #expect(ms >= 1000 && ms < 1300, "a 1 s nanosleep lasted \(ms) ms", sourceLocation: sourceLocation)
        }
        #expect(!lines().contains { $0.contains("error") }, sourceLocation: sourceLocation)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("TracerPid:\t0\n"), sourceLocation: sourceLocation)
        #expect(!status.contains("State:\tt") && !status.contains("State:\tT"), sourceLocation: sourceLocation)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

extension RealServer {
    @Suite("The ptrace injector against a victim blocked in poll, read, accept, nanosleep, epoll_wait, futex")
    struct InjectorTests {
        func injector(_ victim: Victim, count: Int) -> Process {
            let p = Process()
            p.executableURL = productsDir.appendingPathComponent("myconn-test-injector")
            p.arguments = ["\(victim.pid)", "\(count)", "\(victim.pid)"] + victim.tids.values.sorted().map { "\($0)" }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }

        @Test("200 injections: every blocked call resumes correctly")
        func twoHundred() throws {
            let victim = try Victim()
            #expect(victim.tids.count == 6)
            let r = try run(productsDir.appendingPathComponent("myconn-test-injector").path,
                            ["\(victim.pid)", "200", "\(victim.pid)"] + victim.tids.values.sorted().map { "\($0)" })
            #expect(r.status == 0, "\(r.stdout)")
            #expect(r.stdout == "done 200\n")
            usleep(1_100_000)  // at least one full nanosleep after the injections
            try victim.expectHealthy()
        }

        @Test("signals that arrive while a thread is held are delivered, none lost")
        func signalsKept() throws {
            let victim = try Victim()
            let p = injector(victim, count: 3000)
            try p.run()
            var sent = 0
            while p.isRunning && sent < 400 {
                // Real-time signals queue: each one sent must arrive once.
                kill(victim.pid, SIGRTMIN())
                sent += 1
                usleep(500)
            }
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            #expect(sent > 50, "signals were sent while injections ran")
            try victim.send("signals")
            try victim.waitFor { $0.contains("signals \(sent)\n") }
            usleep(1_100_000)
            try victim.expectHealthy()
        }

        @Test("the injecting tool killed by SIGTERM or SIGINT at random moments leaves the victim running and correct")
        func killedAtRandom() throws {
            let victim = try Victim()
            var generator = SystemRandomNumberGenerator()
            var interrupted = 0
            for round in 0..<20 {
                let p = injector(victim, count: 1_000_000)
                try p.run()
                usleep(UInt32.random(in: 2_000...40_000, using: &generator))
                kill(p.processIdentifier, round % 2 == 0 ? SIGTERM : SIGINT)
                p.waitUntilExit()
                if p.terminationReason == .uncaughtSignal { interrupted += 1 }
            }
            #expect(interrupted == 20, "each run ended by its signal, between injections")
            usleep(1_100_000)
            try victim.expectHealthy()
        }
    }
}

/// glibc's SIGRTMIN is a function (the first real-time signal not used by the C library).
func SIGRTMIN() -> Int32 { __libc_current_sigrtmin() }
