#if canImport(Glibc)
@preconcurrency import Glibc
#endif
@preconcurrency import CNcurses
import LinuxKernel
import MyConnCore
import SystemPackage

/// Why `top` could not start.
public enum TopError: Error {
    /// TERM names no terminal type terminfo knows.
    case terminal(String)
    /// The refresh thread cannot be started.
    case thread(Errno)
}

/// `myconn top`: the loop of keys and frames over the refresher's snapshots and the action
/// worker. Every action goes through the core's pipeline (``TopActions``); nothing here acts.
public final class TopApp {
    public struct Options: Sendable {
        public var interval: Double
        public var method: CloseMethod
        public var color: Bool
        public var actions: TopActionSettings

        public init(interval: Double, method: CloseMethod, color: Bool, actions: TopActionSettings) {
            self.interval = interval
            self.method = method
            self.color = color
            self.actions = actions
        }
    }

    enum Mode: Equatable {
        case table
        case help
        case details(RowKey)
        /// Typing a filter or an interval; the text so far.
        case prompt(Prompt, String)
        /// After `C`: which method.
        case chooseMethod
    }

    enum Prompt { case filter, interval }

    var model = TopModel()
    var mode = Mode.table
    var status = ""
    let options: Options
    let refresher: Refresher
    let worker = ActionWorker()
    var interval: Double
    var paused = false
    var quitting: Int32?
    var pendingCut: [TopRow] = []

    init(taker: SnapshotTaker, options: Options) throws(Errno) {
        self.options = options
        interval = options.interval
        refresher = try Refresher(taker: taker, interval: options.interval)
    }

    /// Runs until `q`, Ctrl-C, SIGTERM or SIGHUP; the terminal is restored on every way out.
    /// INT, TERM, HUP and QUIT are held on every thread from here (the threads inherit the mask)
    /// and taken by this loop; an action in flight is finished first.
    /// - Returns: the signal that ended it, if one did.
    /// - Throws: ``TopError`` when the terminal is not one terminfo knows, or the refresh thread
    ///   cannot be started (the screen is untouched either way).
    public static func run(taker: SnapshotTaker, options: Options) throws(TopError) -> Int32? {
        // initscr() would print its own message and exit on a terminal it does not know.
        var err: Int32 = 0
        guard setupterm(nil, STDOUT_FILENO, &err) == OK else {
            let term = getenv("TERM").map { String(cString: $0) } ?? ""
            throw .terminal(term)
        }
        // Resizes come as SIGWINCH, which ncurses catches only where it is not ignored or
        // blocked; a parent may pass down either (measured: a tmux started by a test runner).
        signal(SIGWINCH, SIG_DFL)
        var winch = sigset_t()
        sigemptyset(&winch)
        sigaddset(&winch, SIGWINCH)
        pthread_sigmask(SIG_UNBLOCK, &winch, nil)
        let signals = DeferredSignals()
        defer { signals.release() }
        let app: TopApp
        do { app = try TopApp(taker: taker, options: options) } catch { throw .thread(error) }
        let screen = TopScreen(colorAllowed: options.color)
        defer { screen.end() }
        app.loop(screen, signals: signals)
        screen.end()
        return app.quitting
    }

    func loop(_ screen: TopScreen, signals: DeferredSignals) {
        var seen: UInt64 = 0
        // A frame is drawn when something it shows changed, and at least once a second (the
        // header's "refreshing for" counter); not on every pass of the 50 ms key wait.
        var dirty = true
        var drawnAt = -Double.infinity
        var question: String?
        while true {
            if let s = signals.take(), quitting == nil { quitting = s }
            if let snap = refresher.latest(after: seen) {
                seen = snap.snapshot.sequence
                refresher.release(model.apply(snap))
                dirty = true
            }
            if let done = worker.finished() {
                status = done.text
                if let s = done.interruptedBy, quitting == nil { quitting = s }
                dirty = true
            }
            let q = worker.question
            if q != question { question = q; dirty = true }
            if quitting != nil {
                // Never leave an action half done: a pending question is answered no, a running
                // action is waited for.
                if worker.isBusy { status = "quitting after the running action..." }
                draw(screen)
                worker.cancel()
                refresher.stop()
                return
            }
            if dirty || Deadline.now() - drawnAt >= 1 {
                draw(screen)
                drawnAt = Deadline.now()
                dirty = false
            }
            let k = screen.key()
            if k == ERR { continue }
            if !handle(k, screen: screen) {
                worker.cancel()
                refresher.stop()
                return
            }
            // The key's effect first; a snapshot that came meanwhile is applied after.
            draw(screen)
            drawnAt = Deadline.now()
        }
    }

    // MARK: keys

    /// One key; false: quit.
    func handle(_ k: Int32, screen: TopScreen) -> Bool {
        if k == KEY_RESIZE { return true }
        if let q = worker.question, !q.isEmpty {
            switch k {
            case ch("y"), ch("Y"): worker.answer(true); return true
            case ch("n"), ch("N"), 27: worker.answer(false); return true
            default: break
            }
        }
        switch mode {
        case .prompt(let p, var text):
            switch k {
            case 27: mode = .table
            case 10, 13, KEY_ENTER:
                mode = .table
                submit(p, text)
            case KEY_BACKSPACE, 127, 8:
                if !text.isEmpty { text.removeLast() }
                mode = .prompt(p, text)
            default:
                if k >= 32, k < 127, let u = Unicode.Scalar(UInt32(k)) {
                    text.unicodeScalars.append(u)
                    mode = .prompt(p, text)
                }
            }
            return true
        case .help:
            mode = .table
            return true
        case .details:
            if [27, 10, 13, KEY_ENTER, ch("q")].contains(k) {
                mode = .table
                refresher.set { $0.detailsFor = nil }
                return true
            }
        case .chooseMethod:
            mode = .table
            let method: CloseMethod?
            switch k {
            case ch("t"), ch("p"): method = .ptrace
            case ch("f"): method = .pidfd
            case ch("d"): method = .destroy
            case 10, 13, KEY_ENTER: method = options.method
            default: method = nil
            }
            if let method { act(.cut(method), rows: pendingCut) } else { status = "cut cancelled" }
            return true
        case .table:
            break
        }
        let page = max(1, screen.height - 6)
        switch k {
        case ch("q"): return false
        case KEY_UP, ch("k"): model.move(by: -1)
        case KEY_DOWN, ch("j"): model.move(by: 1)
        case KEY_PPAGE: model.move(by: -page)
        case KEY_NPAGE: model.move(by: page)
        case KEY_HOME, ch("g"): model.moveToStart()
        case KEY_END, ch("G"): model.moveToEnd()
        case ch(" "): model.toggleMark()
        case ch("s"): model.cycleSort()
        case ch("r"): model.reverse()
        case ch("z"): model.toggleZombiesOnly()
        case ch("i"): model.toggleHideIdle()
        case ch("\\"): model.clearFilters(); status = "filters cleared"
        case ch("/"): mode = .prompt(.filter, model.filterText ?? "")
        case ch("d"): mode = .prompt(.interval, "")
        case ch("p"):
            paused.toggle()
            let p = paused
            refresher.set { $0.paused = p }
        case ch("?"), ch("h"): mode = .help
        case 10, 13, KEY_ENTER:
            if let i = model.cursorRow {
                let row = model.rows[i]
                mode = .details(row.key)
                let id = row.session?.row.id
                refresher.set { s in
                    s.detailsFor = id
                    s.transaction = nil
                    s.now = id != nil
                }
            }
        case ch("K"): act(.kill, rows: model.actionRows)
        case ch("Q"): act(.killQuery, rows: model.actionRows)
        case ch("P"): act(.probe, rows: model.actionRows)
        case ch("C"):
            let rows = model.actionRows
            guard !rows.isEmpty else { status = "no session under the cursor"; return true }
            guard !worker.isBusy else { status = "an action is running; wait for its outcome"; return true }
            pendingCut = rows
            mode = .chooseMethod
        default: break
        }
        return true
    }

    func submit(_ p: Prompt, _ text: String) {
        switch p {
        case .filter:
            do {
                try model.setFilter(text)
                status = text.isEmpty ? "filter cleared" : "filter /\(TerminalText.escape(text))/"
            } catch {
                status = "not a regular expression: \(TerminalText.escape(String(describing: error)))"
            }
        case .interval:
            guard let s = Double(text), s >= 0.2, s <= 3600 else {
                status = "the interval is 0.2 to 3600 seconds"
                return
            }
            interval = s
            refresher.set { $0.interval = s }
            status = "refresh every \(TopLayout.formatSeconds(s))"
        }
    }

    /// Starts an action on `rows` through the worker; the screen goes on meanwhile.
    func act(_ action: TopAction, rows: [TopRow]) {
        guard !worker.isBusy else { status = "an action is running; wait for its outcome"; return }
        guard let snap = model.snapshot, let report = snap.report else { status = "no view of the server yet"; return }
        if case .kernelOnly(let why) = snap.mode, !action.needsSocket {
            status = "K and Q need SQL, which is not available (\(TerminalText.escape(why))); C still cuts by socket"
            return
        }
        guard !rows.isEmpty else { status = "no session under the cursor"; return }
        let (targets, skipped) = TopActions.targets(action, rows: rows, report: report)
        guard !targets.isEmpty else {
            status = TerminalText.escape("\(action.verb): nothing to act on: " + skipped.joined(separator: "; "))
            return
        }
        model.clearMarks()
        status = "\(action.verb): waiting for y/n..."
        _ = worker.start(TopActions.job(action, targets: targets, skipped: skipped, settings: options.actions))
    }

    func ch(_ c: Character) -> Int32 { Int32(c.asciiValue!) }

    // MARK: drawing

    func draw(_ screen: TopScreen) {
        screen.clearAll()
        let w = screen.width, h = screen.height
        var y = 0
        let (pausedNow, since) = refresher.read { ($0.paused, $0.refreshingSince) }
        var head = TopLayout.header(model, interval: interval, paused: pausedNow)
        if let since, Deadline.now() - since > 1 { head[0] += "  |  refreshing for \(Int(Deadline.now() - since)) s" }
        for line in head {
            screen.put(y, line, bold: y == 0)
            y += 1
        }
        if let banner = banner() {
            screen.put(y, banner, bold: true, pair: .banner, fill: true)
            y += 1
        }
        switch mode {
        case .help:
            drawLines(screen, from: y, TopHelp.lines)
        case .details(let key):
            drawLines(screen, from: y, details(key))
        default:
            drawTable(screen, from: y, rows: h - y - 1, width: w)
        }
        drawBottom(screen, width: w)
        screen.show()
    }

    func banner() -> String? {
        switch model.snapshot?.mode {
        case .kernelOnly(let why)?:
            return TerminalText.escape("KERNEL-ONLY VIEW: \(why); sessions unknown, K and Q disabled, C cuts by socket")
        case .unavailable(let why)?:
            let shown = model.snapshot?.report == nil && model.rows.isEmpty ? "" : "; the rows shown are from the last view"
            return TerminalText.escape("SERVER UNAVAILABLE: \(why)\(shown); retrying every \(TopLayout.formatSeconds(interval))")
        default:
            return nil
        }
    }

    func drawTable(_ screen: TopScreen, from y0: Int, rows count: Int, width: Int) {
        guard count > 1 else { return }
        let visible = count - 1
        let cursor = model.cursorRow ?? -1
        let top = max(0, min(cursor - visible / 2, model.rows.count - visible))
        let slice = Array(model.rows[min(top, model.rows.count)..<min(model.rows.count, top + visible)])
        let (header, lines) = TopLayout.table(slice, marks: model.marks, cursor: model.cursor, width: width)
        screen.put(y0, header, reverse: true, fill: true)
        for (i, line) in lines.enumerated() {
            let r = slice[i]
            let pair: TopScreen.Pair? = switch TopLayout.tone(r) {
            case .plain: nil
            case .deadClient: .red
            case .zombie: .magenta
            case .slow: .green
            case .verySlow: .yellow
            }
            screen.put(y0 + 1 + i, line, bold: model.marks.contains(r.key), reverse: top + i == cursor,
                       pair: pair, fill: top + i == cursor)
        }
    }

    func drawLines(_ screen: TopScreen, from y0: Int, _ lines: [String]) {
        for (i, l) in lines.enumerated() where y0 + i < screen.height - 1 { screen.put(y0 + i, l) }
    }

    func drawBottom(_ screen: TopScreen, width: Int) {
        let y = screen.height - 1
        if let q = worker.question {
            // The preview over the bottom rows, then the question.
            let lines = q.split(separator: "\n").map(String.init)
            for (i, l) in lines.enumerated() { screen.put(y - lines.count + i, l, pair: .cyan, fill: true) }
            screen.put(y, "y: do it   n: cancel", bold: true, reverse: true, fill: true)
            return
        }
        switch mode {
        case .prompt(.filter, let t): screen.put(y, "filter (regex over user, host, db, state, info; empty clears): " + t, reverse: true, fill: true)
        case .prompt(.interval, let t): screen.put(y, "refresh every (seconds): " + t, reverse: true, fill: true)
        case .chooseMethod:
            screen.put(y, "cut with: t ptrace  f pidfd  d destroy  Enter \(options.method.rawValue)  (other key: cancel)", reverse: true, fill: true)
        default:
            screen.put(y, status.isEmpty ? "?: keys  q: quit" : status, reverse: !status.isEmpty)
        }
    }

    func details(_ key: RowKey) -> [String] {
        guard let row = model.row(key) else { return ["that row is gone (Esc: back)"] }
        let trx = refresher.read { $0.transaction }
        return TopDetails.lines(row, transaction: trx, clientsLookedUp: model.snapshot?.report?.clientsLookedUp ?? false)
    }
}
