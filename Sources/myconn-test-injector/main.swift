// Test support: injects getpid(2) into threads of a process, round-robin, and checks each
// result. Prints `done N` when finished; SIGTERM/SIGINT end it (only between injections:
// the injector blocks them while it holds a thread).
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ProcFS
import SyscallInjector

// Started from a test runner's worker thread, signals may arrive blocked or ignored: start as a
// foreground tool would, with SIGTERM and SIGINT deliverable.
var empty = sigset_t()
sigemptyset(&empty)
sigprocmask(SIG_SETMASK, &empty, nil)
signal(SIGTERM, SIG_DFL)
signal(SIGINT, SIG_DFL)

let args = CommandLine.arguments
guard args.count >= 4, let pid = Int32(args[1]), let count = Int(args[2]) else {
    fputs("usage: myconn-test-injector PID COUNT TID...\n", stderr)
    exit(64)
}
let tids = args.dropFirst(3).compactMap { Int32($0) }
#if arch(x86_64)
let getpidNumber = 39
#else
#error("no getpid number for this architecture")
#endif
var done = 0
while done < count {
    let tid = tids[done % tids.count]
    do {
        let thread = try InjectedThread(pid: pid, tid: tid)
        let r = try thread.syscall(getpidNumber, [])
        thread.release()
        guard r == Int64(pid) else {
            print("wrong \(tid) \(r)")
            exit(1)
        }
    } catch {
        print("error \(tid) \(error)")
        exit(1)
    }
    done += 1
}
print("done \(done)")
