#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT held back on the calling thread (`pthread_sigmask(3)`)
/// from `init` until `release()` (or deinit): a signal sent meanwhile stays pending instead of
/// ending the process. `take()` dequeues one (`sigtimedwait(2)` with a zero timeout) so that
/// code that must finish first (restore registers, restore socket options, write the outcome)
/// can end early and say why, rather than die with half its work done.
///
/// Holders nest, released innermost first: each restores the mask it found, so an inner
/// release keeps what an outer holder blocked (an inner one released after its outer one would
/// block these signals again for good). Threads started while signals are held inherit the mask.
public final class DeferredSignals {
    public static let held: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    private var previous = sigset_t()
    private var holding = true
    /// The signals this holder blocks and takes.
    private let signals: [Int32]
    /// The first signal `take()` dequeued.
    public private(set) var taken: Int32?

    /// - Parameter signals: the ones to hold and take (default all of ``held``). An outer holder
    ///   of more keeps the others pending for itself (`reap` takes HUP between cycles, while an
    ///   action in progress ends early only on INT, TERM or QUIT).
    public init(_ signals: [Int32] = DeferredSignals.held) {
        self.signals = signals
        var set = Self.set(of: signals)
        pthread_sigmask(SIG_BLOCK, &set, &previous)
    }

    deinit { release() }

    /// A held signal that has arrived, taken off the queue (it will not be delivered when the
    /// mask is restored); nil when none is pending.
    public func take() -> Int32? {
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        return dequeue(within: &zero)
    }

    /// Waits up to `seconds` for a held signal and takes it off the queue; nil when none came.
    /// A loop that sleeps between rounds (`reap --interval`) wakes at once on INT or TERM.
    public func wait(seconds: Double) -> Int32? {
        if let s = take() { return s }
        guard seconds > 0 else { return nil }
        let whole = seconds.rounded(.down)
        var t = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9))
        return dequeue(within: &t)
    }

    /// `sigtimedwait(2)` on this holder's signals; EINTR (another signal, handled) or the
    /// timeout: none of ours came.
    private func dequeue(within t: inout timespec) -> Int32? {
        var set = Self.set(of: signals)
        let s = sigtimedwait(&set, nil, &t)
        guard s > 0 else { return nil }
        if taken == nil { taken = s }
        return s
    }

    /// Restores the mask found at `init`; a signal still pending is delivered then. Idempotent.
    public func release() {
        guard holding else { return }
        holding = false
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }

    static func set(of signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        return set
    }
}
