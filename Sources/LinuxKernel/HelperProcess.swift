#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import SystemPackage

/// A helper process that outlives a SIGKILL of its parent: started with `posix_spawn(3)` in a
/// process group of its own (a kill of the parent's group misses it), with every signal
/// blocked and an empty environment, stdin and stderr on /dev/null, stdout on a pipe read to
/// its end here.
public enum HelperProcess {
    /// `posix_spawn(3)` of a helper: a process group of its own, every signal blocked, an
    /// empty environment. Returns posix_spawn's result.
    static func spawn(_ executable: String, _ arguments: [String], _ actions: inout posix_spawn_file_actions_t,
                      _ child: inout pid_t) -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var environment: [UnsafeMutablePointer<CChar>?] = [nil]
        return posix_spawn(&child, executable, &actions, &attributes, &argv, &environment)
    }

    /// Writes `value` to `/proc/self/NAME` (`comm`, `oom_score_adj`), unchecked: a helper's
    /// name and OOM score are courtesies, not conditions.
    public static func writeOwn(_ name: String, _ value: String) {
        let fd = open("/proc/self/" + name, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let b = Array(value.utf8)
        _ = b.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        Glibc.close(fd)
    }

    /// Runs `executable` with `arguments` (argv[0] included) and returns what it wrote on
    /// stdout and its wait status.
    public static func run(_ executable: String, _ arguments: [String]) throws(Errno) -> (output: [UInt8], status: Int32) {
        var ends: [Int32] = [-1, -1]
        guard myconn_pipe_cloexec(&ends) == 0 else { throw Errno(rawValue: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var child: pid_t = 0
        let rc = HelperProcess.spawn(executable, arguments, &actions, &child)
        Glibc.close(ends[1])
        guard rc == 0 else {
            Glibc.close(ends[0])
            throw Errno(rawValue: rc)
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
            if n > 0 { output += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        Glibc.close(ends[0])
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        return (output, status)
    }
}

/// A helper that stands by while its parent works, fed on its stdin: the parent's death (the
/// pipe's end, without ``dismiss()``'s word first) is its cue to undo what the parent left.
/// Descriptors handed to it arrive as 3, 4, ... in the order given.
public final class Guardian {
    public let pid: pid_t
    private var input: Int32

    private init(pid: pid_t, input: Int32) {
        self.pid = pid
        self.input = input
    }

    /// Starts `executable` (own process group, every signal blocked, empty environment) with
    /// `passing[i]` as its descriptor 3 + i.
    public static func start(_ executable: String, _ arguments: [String], passing: [Int32]) throws(Errno) -> Guardian {
        // Each one first moved above 3 + count, so that no dup2 below overwrites a source
        // still to be moved (passing [5, 3] would otherwise hand socket 5 over twice).
        var high: [Int32] = []
        defer { for fd in high { Glibc.close(fd) } }
        for fd in passing {
            let h = fcntl(fd, F_DUPFD_CLOEXEC, Int32(3 + passing.count))
            guard h >= 0 else { throw Errno(rawValue: errno) }
            high.append(h)
        }
        var ends: [Int32] = [-1, -1]
        guard myconn_pipe_cloexec(&ends) == 0 else { throw Errno(rawValue: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, ends[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        for (i, h) in high.enumerated() { posix_spawn_file_actions_adddup2(&actions, h, Int32(3 + i)) }
        var child: pid_t = 0
        let rc = HelperProcess.spawn(executable, arguments, &actions, &child)
        Glibc.close(ends[0])
        guard rc == 0 else {
            Glibc.close(ends[1])
            throw Errno(rawValue: rc)
        }
        return Guardian(pid: child, input: ends[1])
    }

    /// Tells the guardian that nothing is left to undo, and reaps it. Safe to call twice.
    public func dismiss() { end(undo: false) }

    /// Lets the guardian undo (the same as the parent's death), and reaps it.
    public func end(undo: Bool) {
        guard input >= 0 else { return }
        if !undo {
            // A guardian already gone must not end this process with SIGPIPE: held on this
            // thread for the write, and taken off the queue if it came.
            let pipeSignal = DeferredSignals([SIGPIPE])
            let word = Array("done\n".utf8)
            _ = word.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
            _ = pipeSignal.take()
            pipeSignal.release()
        }
        Glibc.close(input)
        input = -1
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Not dismissed: the guardian undoes.
    deinit { end(undo: true) }
}
