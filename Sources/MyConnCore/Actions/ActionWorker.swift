import LinuxKernel
import Synchronization

/// Runs one action at a time on a thread of its own, beside a front end's loop that must keep
/// answering (`top`'s keys and refreshes). The job goes through ``ActionPipeline`` as every
/// command's does; its confirmation is handed to the front end (``question``, ``answer(_:)``)
/// while the job waits, and its summary comes back through ``finished()``.
public final class ActionWorker: @unchecked Sendable {
    public struct Summary: Sendable, Equatable {
        /// One line for a status bar.
        public var text: String
        /// A signal the pipeline took while it held them: the front end should end.
        public var interruptedBy: Int32?

        public init(text: String, interruptedBy: Int32? = nil) {
            self.text = text
            self.interruptedBy = interruptedBy
        }
    }

    struct State {
        var busy = false
        var question: String?
        var answer: Bool?
        var done: Summary?
        var cancelled = false
    }

    private let state = Mutex(State())
    private var thread: OSThread<Void>?

    public init() {}

    public var isBusy: Bool { state.withLock { $0.busy } }

    /// Starts `job` unless one is running (false then: nothing started).
    public func start(_ job: @escaping @Sendable (ActionWorker) -> Summary) -> Bool {
        let free = state.withLock { s -> Bool in
            guard !s.busy else { return false }
            s = State(busy: true)
            return true
        }
        guard free else { return false }
        _ = thread?.join()
        do {
            thread = try OSThread { [self] in
                let summary = job(self)
                state.withLock { s in
                    s.done = summary
                    s.busy = false
                    s.question = nil
                }
            }
        } catch {
            state.withLock { $0 = State(done: Summary(text: "cannot start the action: \(error)")) }
        }
        return true
    }

    /// The job's side: shows `preview` to the front end and waits for its answer. A worker being
    /// shut down (``cancel()``) answers no.
    public func ask(_ preview: String) -> Bool {
        state.withLock { s in
            s.question = preview
            s.answer = nil
        }
        while true {
            let answer = state.withLock { s -> Bool? in
                if s.cancelled { return false }
                guard let a = s.answer else { return nil }
                s.question = nil
                s.answer = nil
                return a
            }
            if let answer { return answer }
            Deadline.sleep(milliseconds: 10)
        }
    }

    /// The preview a job waits on an answer for.
    public var question: String? { state.withLock { $0.question } }

    public func answer(_ yes: Bool) {
        state.withLock { s in if s.question != nil { s.answer = yes } }
    }

    /// The summary of a job that ended since the last call.
    public func finished() -> Summary? {
        state.withLock { s in
            defer { s.done = nil }
            return s.done
        }
    }

    /// Answers no to any pending question and waits for the running job to end: an action is
    /// never left half done by a front end that quits.
    public func cancel() {
        state.withLock { $0.cancelled = true }
        _ = thread?.join()
        thread = nil
    }
}
