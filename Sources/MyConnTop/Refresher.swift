import LinuxKernel
import MyConnCore
import Synchronization
import SystemPackage

/// Takes `top`'s snapshots on a thread of its own, every `interval` seconds unless paused, so
/// that the screen and its keys never wait for one. The screen renders from the last complete
/// snapshot (``latest``).
final class Refresher: @unchecked Sendable {
    struct Shared {
        /// Made ready for the table here (rows, index, counts), not on the loop's thread.
        var latest: PreparedSnapshot?
        /// What the loop let go of, freed here: 10,000 rows take milliseconds to free.
        var released: [PreparedSnapshot] = []
        var interval: Double
        var paused = false
        var stop = false
        /// A refresh wanted now (a key changed what is looked at).
        var now = false
        /// The session whose details are shown: its client process and open transaction are
        /// looked up with each refresh while it is.
        var detailsFor: UInt64?
        var transaction: (id: UInt64, trx: OpenTransaction?)?
        /// When the running refresh started (monotonic), nil between refreshes.
        var refreshingSince: Double?
        var finished = false
    }

    let shared: Mutex<Shared>
    private var thread: OSThread<Void>?
    /// Refresh threads given up on at quit, still waiting on a server: never joined, ended by
    /// the process's exit. Written by the quitting loop alone.
    nonisolated(unsafe) private static var abandoned: [OSThread<Void>?] = []

    /// `taker` is used by the refresher's thread alone from here on.
    init(taker: SnapshotTaker, interval: Double) throws(Errno) {
        shared = Mutex(Shared(interval: interval))
        let box = Handoff(taker)
        thread = try OSThread { [self] in loop(box.value) }
    }

    private func loop(_ taker: SnapshotTaker) {
        // Below the keys: on a machine with few cores, a refresh (and mysqld answering it) must
        // not keep the loop of keys from the CPU.
        OSThread<Void>.lowerPriority(by: 10)
        var last = -Double.infinity
        while true {
            let (stop, due, details, released) = shared.withLock { s -> (Bool, Bool, UInt64?, [PreparedSnapshot]) in
                let released = s.released
                s.released = []
                let due = s.now || (!s.paused && Deadline.now() - last >= s.interval)
                if due {
                    s.now = false
                    s.refreshingSince = Deadline.now()
                }
                return (s.stop, due, s.detailsFor, released)
            }
            _ = consume released
            if stop {
                shared.withLock { $0.finished = true }
                return
            }
            guard due else {
                Deadline.sleep(milliseconds: 10)
                continue
            }
            last = Deadline.now()
            let snap = PreparedSnapshot(taker.take(clients: details != nil))
            let trx = details.map { ($0, taker.transaction(of: $0)) }
            let replaced = shared.withLock { s in
                let replaced = s.latest
                s.latest = snap
                if let trx { s.transaction = trx }
                s.refreshingSince = nil
                return replaced
            }
            _ = consume replaced  // one the loop never took (it was busy): freed here too
        }
    }

    /// The newest snapshot, when it is newer than `sequence`: taken out, so that the loop holds
    /// the only copy and hands it back through ``release(_:)``.
    func latest(after sequence: UInt64) -> PreparedSnapshot? {
        shared.withLock { s in
            guard let p = s.latest, p.snapshot.sequence > sequence else { return nil }
            s.latest = nil
            return p
        }
    }

    /// Gives what the loop no longer shows to this thread to free.
    func release(_ p: PreparedSnapshot?) {
        guard let p else { return }
        shared.withLock { $0.released.append(p) }
    }

    func set(_ change: (inout Shared) -> Void) { shared.withLock { change(&$0) } }
    func read<T>(_ get: (Shared) -> T) -> T { shared.withLock { get($0) } }

    /// Ends the thread after the refresh in flight, waiting for it at most `seconds`: a refresh
    /// stuck on a wedged server (up to the read timeout) does not hold up quitting, and the
    /// process ends it on exit. Nothing a refresh does needs undoing.
    func stop(waitingAtMost seconds: Double = 1) {
        set { $0.stop = true }
        let deadline = Deadline(after: seconds)
        while !read(\.finished) && !deadline.passed { Deadline.sleep(milliseconds: 5) }
        if read(\.finished) {
            _ = thread?.join()
        } else {
            // Joined in deinit, the thread would hold up the exit until the server answers.
            Self.abandoned.append(thread)
        }
        thread = nil
    }
}

/// Hands a value that is not Sendable to one other thread, which alone uses it from then on.
final class Handoff<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
