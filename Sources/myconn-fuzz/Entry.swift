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
/// Without libFuzzer: `myconn-fuzz TARGET FILE|DIR...` runs each input once through the target,
/// for reading a finding under a debugger (`swift build --product myconn-fuzz`). The kept
/// findings are replayed by scripts/fuzz.sh, CI's short run included.
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
                guard let bytes = read(file) else { fputs("myconn-fuzz: cannot read \(file)\n", stderr); exit(66) }
                target(bytes)
                count += 1
            }
        }
        print("\(name): \(count) inputs")
    }

    static func files(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [path] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { out.append(path + "/" + name) }
        }
        return out.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            out.append(contentsOf: buffer[..<n])
        }
        return out
    }
}
#endif
