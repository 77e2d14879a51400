/// An error from libmariadb or the server, with the client or server error number.
public struct MySQLError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server could not be reached: down, wrong port or socket, refused, timed out.
        case cannotConnect
        /// The host name does not resolve.
        case unknownHost
        /// User or password rejected (1045), or no access (1044, 1698).
        case accessDenied
        /// `Too many connections` (1040): no login possible right now.
        case tooManyConnections
        /// A query failed (syntax, privilege, lost connection during a query...).
        case query
        /// Anything else from the client library (out of memory, bad option).
        case client
        /// The server did not answer a round trip within the read timeout (it is wedged or
        /// stopped): the connection is gone.
        case timedOut
    }

    public var kind: Kind
    public var code: UInt32
    public var message: String

    public init(kind: Kind, code: UInt32, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) (\(code))" }

    /// Maps client (2xxx) and server (1xxx) error numbers to kinds, for connect-time errors.
    static func connectKind(code: UInt32) -> Kind {
        switch code {
        case 2005: return .unknownHost              // CR_UNKNOWN_HOST
        case 2001, 2002, 2003, 2004, 2006, 2013, 2026: return .cannotConnect
        case 1040: return .tooManyConnections       // ER_CON_COUNT_ERROR
        case 1044, 1045, 1698: return .accessDenied // DBACCESS, ACCESS_DENIED, ACCESS_DENIED_NO_PASSWORD
        default: return code >= 2000 ? .client : .query
        }
    }
}
