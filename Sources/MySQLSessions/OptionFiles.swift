#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `--defaults-extra-file` on top of libmariadb's option handling.
///
/// libmariadb reads either its default files or one named file (`MYSQL_READ_DEFAULT_FILE`),
/// never both. The `mysql` client reads the global files, then the extra file, then
/// `~/.my.cnf`. To keep libmariadb as the only parser, myconn writes a private file of
/// `!include` lines in that order (libmariadb's own default locations) and names that.
enum OptionFiles {
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
