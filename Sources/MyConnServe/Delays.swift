#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Dispatch
import LinuxKernel
import MyConnCore
import Synchronization

/// The delays `serve` holds. This kernel has no netem: a delay is packets held in user space
/// (``DelayInjection``, NFQUEUE) for as long as it lasts, so each one runs the pipeline on a
/// thread of its own, from its request until `for` runs out or it is healed (`DELETE /faults`,
/// `/reset`, SIGTERM), and its rules leave with it. Its record is in mysqld's fault table, so a
/// serve that is SIGKILLed leaves rules that let packets through (`--queue-bypass`) and that the
/// next fault call removes.
final class Delays: @unchecked Sendable {
    struct Running: Sendable {
        var id: Int
        var target: ActionTarget
        var milliseconds: Int
        var jitter: Int
        var direction: FaultDirection
        var queue: UInt16?
        /// Seconds since the epoch when it ends by itself; nil: when healed.
        var until: Double?
    }

    /// What a delay's thread and the API share: its stop, whether it has ended, what it is.
    private final class Control: Sendable {
        let stop = Atomic<Bool>(false)
        let finished = Atomic<Bool>(false)
        let info: Mutex<Running>
        init(_ info: Running) { self.info = Mutex(info) }
    }

    /// A delay and its thread, joined once it has ended (by ``heal(_:)`` or the next start).
    private struct Entry {
        let control: Control
        let thread: OSThread<Void>
    }

    private let entries = Mutex<[Int: Entry]>([:])
    private let nextID = Atomic<Int>(1)

    var running: [Running] {
        entries.withLock { all in
            all.values.filter { !$0.control.finished.load(ordering: .acquiring) }.map { $0.control.info.withLock { $0 } }
        }.sorted { $0.id < $1.id }
    }

    /// The first answer of a delay's request: that it holds packets, or how it ended before.
    private final class FirstAnswer: Sendable {
        private let value = Mutex<APIReply?>(nil)
        private let given = DispatchSemaphore(value: 0)

        func give(_ r: APIReply) {
            let first = value.withLock { v -> Bool in
                guard v == nil else { return false }
                v = r
                return true
            }
            if first { given.signal() }
        }

        func wait() -> APIReply {
            given.wait()
            return value.withLock { $0! }
        }
    }

    /// Starts a delay on `target` and returns once it holds packets, or once it was refused or
    /// failed (the run's reply, whole); the delay's own outcome record is written when it ends.
    func start(_ method: DelayInjection, target: ActionTarget, dryRun: Bool, audit: AuditLog,
               annotate: @escaping @Sendable (ActionTarget, JSONWriter) -> Void, counted: @escaping @Sendable (String) -> Void) -> APIReply {
        joinFinished()
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let control = Control(Running(id: id, target: target, milliseconds: method.milliseconds, jitter: method.jitter,
                                      direction: method.direction, queue: nil,
                                      until: method.seconds.map { Double(time(nil)) + $0 }))
        let answer = FirstAnswer()
        var m = method
        m.holding = { held in
            let info = control.info.withLock { i in
                i.queue = held.first?.queue
                return i
            }
            let w = JSONWriter()
            w.object {
                w.field("action", "fault")
                w.field("method", "delay")
                w.key("targets")
                w.array([info]) { d in
                    w.object {
                        Self.fields(d, w)
                        // In place: its own outcome record (done, packets, how it ended) comes when it ends.
                        w.field("outcome", "holding")
                        w.field("message", nil as String?)
                    }
                }
                w.field("interrupted", nil as String?)
            }
            answer.give(.json(200, w.bytes))
        }
        let holdingMethod = m
        let work: @Sendable () -> Void = {
            var pipeline = ActionPipeline(method: holdingMethod, dryRun: dryRun, waitSeconds: 0, audit: audit, sessions: nil)
            pipeline.heldSignals = []
            pipeline.stopRequested = { control.stop.load(ordering: .acquiring) }
            pipeline.annotate = annotate
            let outcome = Engine.reply(pipeline, [target], count: counted)
            control.finished.store(true, ordering: .releasing)
            // Ended before it held anything (refused, failed, dry run): that is the answer.
            answer.give(outcome)
        }
        let thread: OSThread<Void>
        do { thread = try OSThread(work) } catch {
            return .error(500, "cannot start the delay's thread (\(error)); nothing was done")
        }
        entries.withLock { $0[id] = Entry(control: control, thread: thread) }
        return answer.wait()
    }

    /// Ends delays (`ids` nil: every one) and waits until each has taken its rules out; their
    /// outcome records say `healed`. Returns the ones ended.
    @discardableResult
    func heal(_ ids: Set<Int>? = nil) -> [Running] {
        let ending = entries.withLock { all in
            all.values.filter { !$0.control.finished.load(ordering: .acquiring) && (ids?.contains($0.control.info.withLock(\.id)) ?? true) }
        }
        for e in ending { e.control.stop.store(true, ordering: .releasing) }
        let ended = ending.map { e in
            _ = e.thread.join()
            return e.control.info.withLock { $0 }
        }
        entries.withLock { all in for d in ended { all.removeValue(forKey: d.id) } }
        joinFinished()
        return ended.sorted { $0.id < $1.id }
    }

    /// Joins the threads of delays that ended by themselves (`for`, refused, failed).
    private func joinFinished() {
        let done = entries.withLock { all -> [Entry] in
            let f = all.filter { $0.value.control.finished.load(ordering: .acquiring) }
            for k in f.keys { all.removeValue(forKey: k) }
            return Array(f.values)
        }
        for e in done { _ = e.thread.join() }
    }

    /// A delay's fields in the API's answers (`delay_id`, the target, the delay).
    static func fields(_ d: Running, _ w: JSONWriter) {
        w.field("delay_id", Int64(d.id))
        d.target.writeFields(to: w, transport: true)
        w.field("fault", "delay:\(d.milliseconds)" + (d.jitter > 0 ? ",\(d.jitter)" : ""))
        w.field("direction", d.direction.rawValue)
        w.field("queue", d.queue.map(Int64.init))
        w.field("until", d.until.map { Int64($0) })
    }
}
