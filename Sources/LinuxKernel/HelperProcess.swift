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
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, &argv, &environment)
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
