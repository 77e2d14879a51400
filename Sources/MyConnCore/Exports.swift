// The kernel's vocabulary (addresses, TCP states, socket entries, tcp_info) and the SQL side's
// (connection options, the connection a front end holds, its errors, processlist rows) are part
// of the core's own API: front ends and their tests see them through the core, and import
// nothing below it.
@_exported import SocketModel
@_exported import MySQLSessions
