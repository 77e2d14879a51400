import LinuxKernel

/// Runs `side` on a new thread while `main` runs on this one, and returns both results once
/// both are done. `list` reads mysqld's descriptor table (one readlink per fd) here while the
/// sock_diag dump runs beside it, and the side thread then takes a share of the readlinks
/// (``FDDirectory``): at 5,000 sessions a whole `list --json` went from 69 to 63 ms (medians,
/// hyperfine, one run). Without a thread (pthread_create failed) `side` runs here, after `main`.
///
/// `side` must own what it touches: it is handed over, and not used by the caller until both
/// are done (see ``Handover``).
func concurrently<A, B>(_ main: () -> A, side: @escaping @Sendable () -> B) -> (A, B) {
    guard let thread = try? OSThread(side) else {
        let a = main()
        return (a, side())
    }
    let a = main()
    return (a, thread.join())
}

/// A value passed whole to the side thread of ``concurrently(_:side:)``: the caller does not
/// touch it until that thread has been joined.
struct Handover<T>: @unchecked Sendable {
    let value: T
}
