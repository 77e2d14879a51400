#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `--defaults-extra-file` on top of libmariadb's option handling.
///
/// libmariadb reads either its default files or one named file (`MYSQL_READ_DEFAULT_FILE`),
/// never both. The `mysql` client reads the global files, then the extra file, then
/// `~/.my.cnf`. To keep libmariadb as the only parser, myconn writes a private file of
/// `!include` lines in that order (libmariadb's own default locations) and names that.
public enum OptionFiles {
    /// The global option files libmariadb reads by default, in its order (`ma_default.c`).
    static func globalFiles() -> [String] {
        var dirs = ["/etc", "/etc/mysql"]
        if let home = getenv("MARIADB_HOME") ?? getenv("MYSQL_HOME") {
            dirs.append(String(cString: home))
        }
        return dirs.map { "\($0)/my.cnf" }
    }

    /// Writes the `!include` file for `extra` and returns its path; remove it with ``removeMerged(_:)``.
    /// - Throws: ``MySQLError`` of kind ``MySQLError/Kind/client`` when `extra` is unreadable
    ///   or the private file cannot be written.
    static func mergedWithExtra(_ extra: String) throws(MySQLError) -> String {
        guard access(extra, R_OK) == 0 else {
            throw MySQLError(kind: .client, code: 0,
                             message: "cannot read --defaults-extra-file \(extra): \(String(cString: strerror(errno)))")
        }
        var files = globalFiles().filter { access($0, R_OK) == 0 }
        files.append(extra)
        if let home = getenv("HOME") {
            let user = "\(String(cString: home))/.my.cnf"
            if access(user, R_OK) == 0 { files.append(user) }
        }
        let text = files.map { "!include \($0)\n" }.joined()
        var template = Array("/tmp/myconn-options-XXXXXX.cnf".utf8CString)
        let fd = mkstemps(&template, 4)  // mode 0600: the included files may hold passwords
        guard fd >= 0 else {
            throw MySQLError(kind: .client, code: 0,
                             message: "cannot write a temporary option file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        guard written == text.utf8.count else {
            unlink(path)
            throw MySQLError(kind: .client, code: 0, message: "cannot write the temporary option file \(path)")
        }
        return path
    }

    static func removeMerged(_ path: String) {
        unlink(path)
    }
}

/// A line of an option file where libmariadb would stop reading that file without a word (its
/// options so far kept, the rest lost: the connection may then go to a default socket, another
/// server's), or a line it would pass on as an option that is not `key[=value]`. The `mysql`
/// client stops with the file and line; so does myconn.
public struct OptionFileProblem: Error, Sendable, Equatable {
    public var file: String
    /// 1-based; 0 when the file itself cannot be read.
    public var line: Int
    public var reason: String

    public var message: String {
        let at = line == 0 ? "option file \(file)" : "option file \(file) line \(line)"
        return "\(at): \(reason); nothing was done: fix it, or name another file (--defaults-file) or none (--no-defaults)"
    }
}

/// The syntax libmariadb's option reader (`ma_default.c`) accepts, checked before it reads.
enum OptionFileSyntax {
    struct Scan: Equatable {
        /// `!include FILE` and `!includedir DIR` before the first problem, in order.
        var includes: [(directive: String, path: String)] = []
        var problem: (line: Int, reason: String)?

        static func == (a: Scan, b: Scan) -> Bool {
            a.includes.map { [$0.directive, $0.path] } == b.includes.map { [$0.directive, $0.path] }
                && a.problem?.line == b.problem?.line && a.problem?.reason == b.problem?.reason
        }
    }

    /// The groups a client of libmariadb reads, and myconn's own.
    static let clientGroups: Set<String> = ["client", "client-server", "client-mariadb", ConnectionOptions.optionGroup]

    static func scan(_ bytes: [UInt8]) -> Scan {
        var scan = Scan()
        var foundGroup = false, reading = false
        for (index, raw) in bytes.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            if raw.contains(where: { $0 < 0x20 && $0 != 0x09 && $0 != 0x0d }) || String(validating: raw, as: UTF8.self) == nil {
                scan.problem = (number, "it holds bytes that are not text (a binary file?)")
                return scan
            }
            let text = String(decoding: raw, as: UTF8.self)
            let line = text.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("!") {
                let parts = line.dropFirst().split(separator: " ", maxSplits: 1)
                guard parts.count == 2, parts[0] == "include" || parts[0] == "includedir" else {
                    scan.problem = (number, "'\(line.prefix(60))' is neither !include FILE nor !includedir DIR")
                    return scan
                }
                scan.includes.append((String(parts[0]), String(parts[1]).trimmingSpaces))
                continue
            }
            if line.hasPrefix("[") {
                guard let close = line.firstIndex(of: "]") else {
                    scan.problem = (number, "the group header '\(line.prefix(60))' has no ]")
                    return scan
                }
                foundGroup = true
                reading = clientGroups.contains(String(line[line.index(after: line.startIndex)..<close]).trimmingSpaces)
                continue
            }
            guard foundGroup else {
                scan.problem = (number, "'\(line.prefix(60))' comes before any [group]")
                return scan
            }
            guard reading else { continue }  // another program's group: not ours to judge
            let key = (line.firstIndex(of: "=").map { String(line[..<$0]) } ?? line).trimmingSpaces
            let keyChars = key.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || $0 == 0x2d || $0 == 0x5f }
            if key.isEmpty || !keyChars {
                scan.problem = (number, "'\(line.prefix(60))' is not key=value")
                return scan
            }
        }
        return scan
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
    }
}

extension OptionFiles {
    /// The files libmariadb will read for `options` (and what they include), each checked
    /// before it does: the first problem, or nil.
    public static func check(_ options: ConnectionOptions) -> OptionFileProblem? {
        if options.noDefaults { return nil }
        if let file = options.defaultsFile {
            guard access(file, R_OK) == 0 else {
                return OptionFileProblem(file: file, line: 0, reason: "--defaults-file cannot be read (\(String(cString: strerror(errno))))")
            }
            return check(file: file, depth: 0)
        }
        var files = globalFiles()
        if let extra = options.defaultsExtraFile { files.append(extra) }
        if let home = getenv("HOME") { files.append("\(String(cString: home))/.my.cnf") }
        for file in files where access(file, R_OK) == 0 {
            if let problem = check(file: file, depth: 0) { return problem }
        }
        return nil
    }

    /// One file and its includes, as libmariadb follows them (`!includedir DIR` reads DIR/my.cnf;
    /// at most 64 deep).
    static func check(file: String, depth: Int) -> OptionFileProblem? {
        guard depth < 64 else { return nil }
        guard let f = fopen(file, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count < 4 << 20 {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[..<n])
        }
        let scan = OptionFileSyntax.scan(bytes)
        for include in scan.includes {
            let path = include.directive == "include" ? include.path : include.path + "/my.cnf"
            if access(path, R_OK) == 0, let problem = check(file: path, depth: depth + 1) { return problem }
        }
        return scan.problem.map { OptionFileProblem(file: file, line: $0.line, reason: $0.reason) }
    }
}
