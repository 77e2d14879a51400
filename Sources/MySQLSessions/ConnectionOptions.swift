/// How to reach the server, with the `mysql` client's meaning for each field.
/// Fields left nil come from option files (`[client]`, `[client-server]`, `[client-mariadb]`,
/// `[myconn]`) through libmariadb's own option handling, then from libmariadb's defaults.
public struct ConnectionOptions: Sendable, Equatable {
    public enum TransportProtocol: String, Sendable, CaseIterable {
        case tcp, socket
    }

    public var host: String?
    public var port: UInt32?
    public var user: String?
    /// nil: from an option file or `MYSQL_PWD` (libmariadb reads both).
    public var password: String?
    public var socket: String?
    public var transport: TransportProtocol?
    /// `--defaults-file`: read only this option file.
    public var defaultsFile: String?
    /// `--defaults-extra-file`: read this file after the global option files and before `~/.my.cnf`.
    public var defaultsExtraFile: String?
    /// `--no-defaults`: read no option file at all.
    public var noDefaults: Bool
    public var connectTimeoutSeconds: UInt32
    /// The deadline of each read and each write after the connect (`MYSQL_OPT_READ_TIMEOUT`,
    /// `MYSQL_OPT_WRITE_TIMEOUT`); nil: none, a round trip may wait forever.
    public var readTimeoutSeconds: UInt32?
    /// The default database (`mysql_real_connect`'s `db`); nil: none.
    public var database: String?
    /// The `program_name` connection attribute the server keeps in
    /// `performance_schema.session_connect_attrs`; nil: libmariadb's own attributes only.
    public var programName: String?

    public init(host: String? = nil, port: UInt32? = nil, user: String? = nil, password: String? = nil,
                socket: String? = nil, transport: TransportProtocol? = nil, defaultsFile: String? = nil,
                defaultsExtraFile: String? = nil, noDefaults: Bool = false, connectTimeoutSeconds: UInt32 = 10,
                readTimeoutSeconds: UInt32? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.socket = socket
        self.transport = transport
        self.defaultsFile = defaultsFile
        self.defaultsExtraFile = defaultsExtraFile
        self.noDefaults = noDefaults
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.readTimeoutSeconds = readTimeoutSeconds
    }

    /// The option group myconn reads beside libmariadb's client groups.
    public static let optionGroup = "myconn"
}
