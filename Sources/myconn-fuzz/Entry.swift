#if canImport(Glibc)
@preconcurrency import Glibc
#endif

#if FUZZING
import CLibFuzzer

// libFuzzer (`swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING`; scripts/fuzz.sh):
// the target is named by MYCONN_FUZZ_TARGET; the remaining arguments are libFuzzer's.
nonisolated(unsafe) var fuzzTarget: FuzzTargets.Target = { _ in }

/// libFuzzer's callback, also under its own name: -sanitize=fuzzer links libFuzzer's main too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzTarget(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

@main
struct Fuzz {
    static func main() {
        guard let name = getenv("MYCONN_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTargets.all[name] else {
            fputs("myconn-fuzz: set MYCONN_FUZZ_TARGET to one of: \(FuzzTargets.all.keys.sorted().joined(separator: ", "))\n", stderr)
            exit(64)
        }
        fuzzTarget = target
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzTestOneInput(data, size) })
    }
}
#else
import Foundation
import MyConnCore

/// Without libFuzzer: `myconn-fuzz TARGET FILE|DIR...` runs each input once through the target,
/// for reading a finding under a debugger (`swift build --product myconn-fuzz`), and for CI:
/// the ordinary suite replays the kept findings through it (FuzzReplayTests); scripts/fuzz.sh
/// reads them first in every campaign.
@main
struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTargets.all[name] else {
            fputs("usage: myconn-fuzz TARGET FILE|DIR...; targets: \(FuzzTargets.all.keys.sorted().joined(separator: ", "))\n", stderr)
            exit(64)
        }
        var count = 0
        for path in args.dropFirst() {
            for file in files(path) {
                guard let bytes = read(file) else { fputs("myconn-fuzz: cannot read \(TerminalText.escape(file))\n", stderr); exit(66) }
                target(bytes)
                count += 1
            }
        }
        print("\(name): \(count) inputs")
    }

    static func files(_ path: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [path] }
        return names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
    }

    static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }
}
#endif
