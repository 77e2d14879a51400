#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Runs `side` on a new thread while `main` runs on this one, and returns both results once
/// both are done. `list` reads mysqld's descriptor table (one readlink per fd) here while the
/// sock_diag dump runs beside it, and the side thread then takes a share of the readlinks
/// (``FDDirectory``): at 5,000 sessions a whole `list --json` went from 69 to 63 ms (medians,
/// hyperfine, one run). Without a thread (pthread_create failed) `side` runs here, after `main`.
///
/// `side` must own what it touches: it is handed over, and not used by the caller until both
/// are done (see ``Handover``).
func concurrently<A, B>(_ main: () -> A, side: @escaping @Sendable () -> B) -> (A, B) {
    let slot = SideSlot(side)
    var thread = pthread_t()
    let retained = Unmanaged<SideSlotBase>.passRetained(slot)
    let rc = pthread_create(&thread, nil, { arg in
        let slot = Unmanaged<SideSlotBase>.fromOpaque(arg!).takeRetainedValue()
        slot.run()
        return nil
    }, retained.toOpaque())
    guard rc == 0 else {
        retained.release()
        let a = main()
        return (a, side())
    }
    let a = main()
    pthread_join(thread, nil)  // orders the side thread's writes before our read
    return (a, slot.result!)
}

/// The side thread's work and result. The thread sees it through the non-generic base (a C
/// callback cannot name `B`).
class SideSlotBase: @unchecked Sendable {
    func run() {}
}

final class SideSlot<B>: SideSlotBase, @unchecked Sendable {
    let work: @Sendable () -> B
    var result: B?
    init(_ work: @escaping @Sendable () -> B) { self.work = work }
    override func run() { result = work() }
}

/// A value passed whole to the side thread of ``concurrently(_:side:)``: the caller does not
/// touch it until that thread has been joined.
struct Handover<T>: @unchecked Sendable {
    let value: T
}
