import Foundation
import Testing

/// A real terminal for `myconn top`: a tmux server of its own (`tmux -L`), one pane running bash,
/// keys sent with `send-keys`, the screen read with `capture-pane -p`. Killed in `deinit`, so also
/// when a test fails.
final class TmuxPane {
    let server = "myconn-test-\(UUID().uuidString.prefix(8))"
    static let tmux = "/usr/bin/tmux"

    init(width: Int = 200, height: Int = 50) throws {
        // The tmux server this starts stays behind. It must hold none of this process's
        // descriptors: Foundation's Process learns that a child ended from a pipe that every
        // child inherits, and would wait for the server too. bash closes all but 0-2 first.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\"; done; exec \"$@\"", "tmux-start",
                       Self.tmux, "-L", server, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "\(width)", "-y", "\(height)",
                       "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=tmux-256color LANG=C.UTF-8 HOME=/root bash --norc --noprofile"]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestFailure("tmux new-session exited \(p.terminationStatus)") }
        serverPID = Int32(try run(Self.tmux, ["-L", server, "display-message", "-p", "#{pid}"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The tmux server's pid: killed in `deinit` if `kill-server` left it running (seen here).
    private(set) var serverPID: Int32?

    /// Types `line` at the shell and presses Enter.
    func shell(_ line: String) throws {
        try run(Self.tmux, ["-L", server, "send-keys", "-t", "t", "-l", line])
        try keys("Enter")
    }

    /// tmux key names (`Down`, `Enter`, `Escape`, `Space`) or single characters.
    func keys(_ names: String...) throws {
        let r = try run(Self.tmux, ["-L", server, "send-keys", "-t", "t"] + names)
        guard r.status == 0 else { throw TestFailure("tmux send-keys \(names): \(r.stderr)") }
    }

    /// Literal text (a filter, an interval).
    func type(_ text: String) throws {
        try run(Self.tmux, ["-L", server, "send-keys", "-t", "t", "-l", text])
    }

    func resize(width: Int, height: Int) throws {
        try run(Self.tmux, ["-L", server, "resize-window", "-t", "t", "-x", "\(width)", "-y", "\(height)"])
    }

    func screen() throws -> [String] {
        try run(Self.tmux, ["-L", server, "capture-pane", "-p", "-t", "t"]).stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// A key whose effect is awaited: when the screen does not show it within 4 s the key is sent
    /// once more, and that is printed (`tmux: key ... sent again`), never hidden. Two fresh-clone
    /// CI runs (8608115, c6c18ee) each saw top show no effect of one key of a marked cut (C, or
    /// the method key after it) while its main thread sat in getch and its refresher went on; the
    /// printed line counts how often a key goes missing, between tmux and top's getch.
    func press(_ key: String, _ what: String, until ready: ([String]) -> Bool) throws {
        try keys(key)
        if try poll(seconds: 4, until: ready).done { return }
        print("tmux: key \(key) had no visible effect in 4 s (waiting for \(what)); sent again")
        try keys(key)
        try wait(what, until: ready)
    }

    /// Polls the screen every 50 ms until `ready` holds; the last screen either way.
    @discardableResult
    func wait(seconds: Double = 10, _ what: String, until ready: ([String]) -> Bool) throws -> [String] {
        let (done, last) = try poll(seconds: seconds, until: ready)
        if done { return last }
        Issue.record("timed out waiting for \(what); the screen:\n\(last.joined(separator: "\n"))\n\(threads())")
        return last
    }

    /// The screen every 50 ms until `ready` holds or `seconds` pass: whether it held, and the last screen.
    private func poll(seconds: Double, until ready: ([String]) -> Bool) throws -> (done: Bool, last: [String]) {
        let deadline = Date().addingTimeInterval(seconds)
        var last: [String] = []
        while Date() < deadline {
            last = try screen()
            if ready(last) { return (true, last) }
            usleep(50_000)
        }
        return (false, last)
    }

    /// What the pane's programs were doing when a wait timed out: each thread's state, kernel wait
    /// channel and syscall (/proc), and their stacks from gdb, so that a hang seen once in CI
    /// can be read afterwards.
    func threads() -> String {
        guard let text = try? run(Self.tmux, ["-L", server, "display-message", "-p", "-t", "t", "#{pane_pid}"]).stdout,
              let shell = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return "(no pane pid)" }
        func read(_ path: String) -> String {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // The shell's children (myconn top), found by their parent in /proc/*/stat.
        let all = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        let children = all.filter { pid in
            let stat = read("/proc/\(pid)/stat")
            guard let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(close, offsetBy: 2)...].split(separator: " ").dropFirst().first == "\(shell)"
        }
        var out = ["pane shell \(shell), its children \(children)"]
        for pid in children {
            out.append("process \(pid): \(read("/proc/\(pid)/cmdline").replacingOccurrences(of: "\u{0}", with: " "))")
            for tid in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).sorted() {
                let base = "/proc/\(pid)/task/\(tid)"
                let state = read("\(base)/status").split(separator: "\n").first { $0.hasPrefix("State:") } ?? "?"
                out.append("  thread \(tid) \(read("\(base)/comm")): \(state), wchan \(read("\(base)/wchan")), syscall \(read("\(base)/syscall"))")
            }
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb"),
               let bt = try? run("/usr/bin/timeout", ["30", "/usr/bin/gdb", "-batch", "-p", "\(pid)", "-ex", "thread apply all bt 25"]) {
                out.append(bt.stdout.split(separator: "\n").filter { $0.hasPrefix("#") || $0.hasPrefix("Thread ") }.joined(separator: "\n"))
            }
        }
        return out.joined(separator: "\n")
    }

    deinit {
        _ = try? run(Self.tmux, ["-L", server, "kill-server"])
        if let pid = serverPID, pid > 1 {
            for _ in 0..<20 where kill(pid, 0) == 0 { usleep(25_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
    }
}

/// `top`'s screen as a test reads it: the header lines, and each table row's id, fd, cursor and
/// mark.
struct TopScreenText {
    struct Row {
        var id: UInt64?
        var fd: Int32?
        var cursor: Bool
        var marked: Bool
        var tokens: [Substring]
    }

    let lines: [String]
    let rows: [Row]

    /// Rows are read under the column titles: ID and FD are right-aligned, so each value ends
    /// where its title ends (rows without a session have no USER, HOST, ... to count by).
    init(_ lines: [String]) {
        self.lines = lines
        guard let header = lines.firstIndex(where: { $0.contains(" ID ") && $0.contains(" FD ") }) else {
            rows = []
            return
        }
        let title = Array(lines[header])
        func end(of name: String) -> Int? {
            let n = Array(" \(name) ")
            guard title.count >= n.count else { return nil }
            for i in 0...(title.count - n.count) where Array(title[i..<i + n.count]) == n { return i + n.count - 2 }
            return nil
        }
        guard let idEnd = end(of: "ID"), let fdEnd = end(of: "FD") else {
            rows = []
            return
        }
        func word(_ line: [Character], endingAt e: Int) -> Substring {
            guard line.count > e else { return "" }
            return String(line[0...e]).split(separator: " ").last ?? ""
        }
        var rows: [Row] = []
        for text in lines[(header + 1)...] {
            let line = Array(text)
            guard line.count > fdEnd else { break }
            let id = word(line, endingAt: idEnd)
            guard id == "-" || UInt64(id) != nil else { break }
            rows.append(Row(id: UInt64(id), fd: Int32(word(line, endingAt: fdEnd)), cursor: line[0] == ">", marked: line[1] == "*",
                            tokens: text.dropFirst(2).split(separator: " ")))
        }
        self.rows = rows
    }

    var ids: [UInt64] { rows.compactMap(\.id) }
    var cursorID: UInt64? { rows.first { $0.cursor }?.id }
    var bottom: String { lines.last { !$0.isEmpty } ?? "" }
    func contains(_ text: String) -> Bool { lines.contains { $0.contains(text) } }
}

extension TmuxPane {
    /// Moves the cursor onto session `id`, one key at a time, each move seen on screen before
    /// the next key (keys sent ahead of the screen would overshoot).
    func moveCursor(to id: UInt64) throws {
        var last: [String] = []
        for _ in 0..<40 {
            last = try screen()
            let s = TopScreenText(last)
            if s.cursorID == id { return }
            guard let at = s.rows.firstIndex(where: \.cursor), let want = s.rows.firstIndex(where: { $0.id == id }) else {
                usleep(50_000)
                continue
            }
            let before = s.rows[at].id
            try keys(want > at ? "Down" : "Up")
            for _ in 0..<40 {
                usleep(25_000)
                if TopScreenText(try screen()).cursorID != before { break }
            }
        }
        Issue.record("the cursor never reached session \(id); the screen:\n\(last.joined(separator: "\n"))")
    }
}
