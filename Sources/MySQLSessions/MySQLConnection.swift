import CMariaDB
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// One connection through libmariadb (MariaDB Connector/C).
///
/// Not shared between threads: libmariadb's `MYSQL` handle is not thread-safe.
public final class MySQLConnection {
    let handle: UnsafeMutablePointer<MYSQL>

    /// Connects with `mysql_real_connect(3)`, reading option files through `mysql_options(3)`.
    /// - Throws: ``MySQLError`` with a connect-time ``MySQLError/Kind``.
    public init(options: ConnectionOptions) throws(MySQLError) {
        guard let h = mysql_init(nil) else {
            throw MySQLError(kind: .client, code: 2008, message: "libmariadb could not allocate a connection")
        }
        var extraFileToRemove: String?
        defer { if let path = extraFileToRemove { OptionFiles.removeMerged(path) } }
        do throws(MySQLError) {
            if !options.noDefaults {
                mysql_options(h, MYSQL_READ_DEFAULT_GROUP, ConnectionOptions.optionGroup)
                if let file = options.defaultsFile {
                    mysql_options(h, MYSQL_READ_DEFAULT_FILE, file)
                } else if let extra = options.defaultsExtraFile {
                    let merged = try OptionFiles.mergedWithExtra(extra)
                    extraFileToRemove = merged
                    mysql_options(h, MYSQL_READ_DEFAULT_FILE, merged)
                }
            }
            var timeout = options.connectTimeoutSeconds
            mysql_options(h, MYSQL_OPT_CONNECT_TIMEOUT, &timeout)
            if var deadline = options.readTimeoutSeconds {
                mysql_options(h, MYSQL_OPT_READ_TIMEOUT, &deadline)
                mysql_options(h, MYSQL_OPT_WRITE_TIMEOUT, &deadline)
            }
            if let transport = options.transport {
                var proto = transport == .tcp ? MYSQL_PROTOCOL_TCP.rawValue : MYSQL_PROTOCOL_SOCKET.rawValue
                mysql_options(h, MYSQL_OPT_PROTOCOL, &proto)
            }
            if let program = options.programName {
                mysql_options4(h, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", program)
            }
            let ok = mysql_real_connect(h, options.host, options.user, options.password, options.database,
                                        options.port ?? 0, options.socket, 0)
            if ok == nil {
                let code = mysql_errno(h)
                throw MySQLError(kind: MySQLError.connectKind(code: code), code: code,
                                 message: String(cString: mysql_error(h)))
            }
        } catch {
            mysql_close(h)
            throw error
        }
        handle = h
    }

    deinit {
        mysql_close(handle)
    }

    /// The descriptor of this connection's socket in our own process.
    public var socketDescriptor: Int32 { Int32(mysql_get_socket(handle)) }

    /// `SELECT VERSION()` as the handshake gave it, e.g. `10.11.19-MariaDB-0+deb12u1`.
    public var serverVersion: String { String(cString: mysql_get_server_info(handle)) }

    public var isMariaDB: Bool { serverVersion.contains("MariaDB") }

    /// Runs a statement and returns all its rows (text protocol; NULL is nil).
    /// - Throws: ``MySQLError`` of kind ``MySQLError/Kind/query``.
    @discardableResult
    public func query(_ sql: String) throws(MySQLError) -> QueryResult {
        let rc = sql.withCString { mysql_real_query(handle, $0, UInt(strlen($0))) }
        guard rc == 0 else { throw lastError() }
        guard let res = mysql_store_result(handle) else {
            if mysql_field_count(handle) == 0 { return QueryResult(columns: [], rows: []) }
            throw lastError()
        }
        defer { mysql_free_result(res) }
        let n = Int(mysql_num_fields(res))
        var columns: [String] = []
        if let fields = mysql_fetch_fields(res) {
            for i in 0..<n { columns.append(String(cString: fields[i].name)) }
        }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(mysql_num_rows(res)))
        while let row = mysql_fetch_row(res) {
            guard let lengths = mysql_fetch_lengths(res) else { break }
            var values: [String?] = []
            values.reserveCapacity(n)
            for i in 0..<n {
                if let cell = row[i] {
                    let buf = UnsafeRawBufferPointer(start: cell, count: Int(lengths[i]))
                    values.append(String(decoding: buf, as: UTF8.self))
                } else {
                    values.append(nil)
                }
            }
            rows.append(values)
        }
        return QueryResult(columns: columns, rows: rows)
    }

    /// One row of ``forEachRow(_:_:)``: the cells as the server sent them (text protocol),
    /// valid only inside the call.
    public struct RowCells {
        let row: MYSQL_ROW
        let lengths: UnsafeMutablePointer<UInt>
        public let count: Int

        public func string(_ i: Int) -> String? {
            guard i < count, let cell = row[i] else { return nil }
            return String(decoding: UnsafeRawBufferPointer(start: cell, count: Int(lengths[i])), as: UTF8.self)
        }

        /// A non-negative decimal integer cell; nil for NULL or anything else.
        public func unsigned(_ i: Int) -> UInt64? {
            guard i < count, let cell = row[i] else { return nil }
            let n = Int(lengths[i])
            guard n > 0, n <= 20 else { return nil }
            var v: UInt64 = 0
            for k in 0..<n {
                let d = UInt8(bitPattern: cell[k]) &- 0x30
                guard d < 10 else { return nil }
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(d))
                guard !o1, !o2 else { return nil }
                v = s
            }
            return v
        }
    }

    /// Runs a statement and hands each row to `each` as it arrives (`mysql_use_result`), without
    /// building an array of strings per row: `list` reads 10,000 processlist rows this way.
    public func forEachRow(_ sql: String, _ each: (RowCells) -> Void) throws(MySQLError) {
        let rc = sql.withCString { mysql_real_query(handle, $0, UInt(strlen($0))) }
        guard rc == 0 else { throw lastError() }
        guard let res = mysql_use_result(handle) else {
            if mysql_field_count(handle) == 0 { return }
            throw lastError()
        }
        defer { mysql_free_result(res) }
        let n = Int(mysql_num_fields(res))
        while let row = mysql_fetch_row(res) {
            guard let lengths = mysql_fetch_lengths(res) else { break }
            each(RowCells(row: row, lengths: lengths, count: n))
        }
        if mysql_errno(handle) != 0 { throw lastError() }
    }

    /// Runs a statement and reads its rows as they arrive (`mysql_use_result`), calling `each`
    /// with the row count so far; stops early when `each` returns false.
    public func stream(_ sql: String, _ each: (Int) -> Bool) throws(MySQLError) {
        let rc = sql.withCString { mysql_real_query(handle, $0, UInt(strlen($0))) }
        guard rc == 0 else { throw lastError() }
        guard let res = mysql_use_result(handle) else { throw lastError() }
        defer { mysql_free_result(res) }
        var n = 0
        while mysql_fetch_row(res) != nil {
            n += 1
            if !each(n) { return }
        }
        if mysql_errno(handle) != 0 { throw lastError() }
    }

    /// Sends a statement without waiting for its result (`mysql_send_query`), so the session
    /// is busy on the server while this process does something else.
    public func send(_ sql: String) throws(MySQLError) {
        let rc = sql.withCString { mysql_send_query(handle, $0, UInt(strlen($0))) }
        guard rc == 0 else { throw lastError() }
    }

    /// The error of the call that just failed; read before anything else can change `errno`.
    private func lastError() -> MySQLError {
        let cause = errno
        let code = mysql_errno(handle)
        // libmariadb reports a read or write past its deadline as a lost connection (2013),
        // leaving the poll(2) timeout's ETIMEDOUT in errno.
        let kind: MySQLError.Kind = code == 2013 && cause == ETIMEDOUT ? .timedOut : .query
        return MySQLError(kind: kind, code: code, message: String(cString: mysql_error(handle)))
    }
}

/// Rows of a text-protocol result.
public struct QueryResult: Sendable {
    public var columns: [String]
    public var rows: [[String?]]
}
