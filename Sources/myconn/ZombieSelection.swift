import ArgumentParser
import MyConnCore

/// `--zombie CLASS[,CLASS]` and `--idle SECONDS`: selecting targets by zombie class (kill, close).
struct ZombieSelection: ParsableArguments {
    @Option(name: .long, help: "Select targets by zombie class: client-gone, peer-unreachable, orphan-socket, orphan-session, idle (comma-separated; see myconn zombies).")
    var zombie: String?

    @Option(name: .long, help: "With --zombie idle: in Sleep for at least this many seconds (TIME >= N, as pt-kill's --idle-time).")
    var idle: Int64?

    /// The classes asked for; nil without --zombie.
    var classes: [ZombieClass]? { zombie.flatMap(ZombieClass.parseList) }

    func validate() throws {
        if let zombie, ZombieClass.parseList(zombie) == nil {
            throw ValidationError("--zombie takes classes from: \(ZombieClass.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if classes?.contains(.idle) == true && idle == nil { throw ValidationError("--zombie idle needs --idle SECONDS") }
        if let idle, idle < 0 { throw ValidationError("--idle must be 0 or more seconds") }
    }
}
