#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The one clock of every wait: `CLOCK_MONOTONIC`, unaffected by changes to the wall clock.
public struct Deadline: Sendable {
    public let at: Double

    public init(after seconds: Double) { at = Self.now() + seconds }

    public var passed: Bool { Self.now() >= at }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static func sleep(milliseconds: UInt32) { usleep(milliseconds * 1000) }
}

/// `SIGINT`, `SIGTERM`, …, for messages.
public func signalName(_ s: Int32) -> String {
    switch s {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    case SIGHUP: return "SIGHUP"
    case SIGQUIT: return "SIGQUIT"
    default: return "signal \(s)"
    }
}
