#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS
import SystemPackage

/// `myconn fault --half-close read|write`: `shutdown(2)` of one direction of mysqld's socket,
/// on a pidfd duplicate checked as a fault's is (same inode, same peer, ESTABLISHED). `write`
/// sends the client a FIN: it reads EOF while mysqld's end can still read; `read` makes mysqld's
/// next read return end-of-file while the client can still be written to. Nothing is stopped.
public struct HalfClose: ActionMethod {
    public enum Side: String, Sendable, CaseIterable {
        case read, write
    }

    public var side: Side

    public init(side: Side) { self.side = side }

    public var action: String { "fault" }
    public var method: String { "half-close-\(side.rawValue)" }
    public var noDetail: CutDetail { CutDetail() }
    public var recordsTransport: Bool { true }

    public func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable) {}

    public func verify(_ targets: [ActionTarget], proc: ProcReader) -> [ActionResult?] {
        targets.map { t in
            if case .failure(let why) = FaultInjection.check(t) { return why }
            return nil
        }
    }

    public func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<CutDetail>] {
        targets.map { t in
            switch FaultInjection.check(t) {
            case .failure(let why): return ActionStep(why, CutDetail())
            case .success(let (dup, _)):
                let how = side == .write ? Int32(SHUT_WR) : Int32(SHUT_RD)
                guard shutdown(dup.fd, how) == 0 else {
                    return ActionStep(.failed("shutdown(\(side == .write ? "SHUT_WR" : "SHUT_RD")): \(Errno(rawValue: errno))"), CutDetail())
                }
                return ActionStep(.done, CutDetail())
            }
        }
    }

    public func goal(after step: ActionStep<CutDetail>, target: ActionTarget) -> WaitGoal { [] }

    public func writeFields(of o: ActionOutcome<CutDetail>, to w: JSONWriter) {
        w.field("outcome", o.result.name)
        w.field("message", o.result.message)
    }
}
