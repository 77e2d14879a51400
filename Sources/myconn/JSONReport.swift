import MyConnCore

/// `myconn list --json`: the contract documented in README.md. Unknown values are `null`, never
/// absent; keys keep the documented order.
///
/// Written by hand rather than with Foundation's JSONEncoder: at thousands of sessions the
/// encoder cost more than reading the kernel's tables (measured: 28 ms of 93 at 1,000 sessions).
enum JSONReport {
    /// The document in a writer, written to stdout from there (a copy of 2 MB at 5,000
    /// sessions cost more in page faults than writing it).
    static func writer(_ report: ListReport) -> JSONWriter {
        // About 600 bytes per session or socket (measured: 2.0 MB at 5,000 sessions).
        let local = LocalText()
        let w = JSONWriter(capacity: 4096 + 700 * (report.sessions.count + report.unmatchedSockets.count + report.listeningSockets.count))
        w.object {
            w.key("server")
            w.object {
                w.field("pid", report.server.pid.map(Int64.init))
                w.field("version", report.server.version)
                w.field("port", report.server.port.map(Int64.init))
                w.field("kernel_source", report.server.kernelSource.rawValue)
                w.field("sql", report.server.sql)
                w.field("same_network_namespace", report.server.sameNetworkNamespace)
            }
            w.key("sessions")
            w.array(report.sessions) { s in
                w.object {
                    let r = s.row
                    w.field("id", Int64(bitPattern: r.id))
                    w.field("user", r.user)
                    w.field("host", r.host)
                    w.field("db", r.db)
                    w.field("command", r.command)
                    w.field("time", r.time)
                    w.field("state", r.state)
                    w.field("info", r.info)
                    w.field("transport", (s.socket?.transport ?? s.transport)?.rawValue)
                    kernelFields(s.socket, w, local)
                    clientFields(s.socket, looked: report.clientsLookedUp, w)
                    w.field("match", s.match?.rawValue)
                    w.field("unresolved", s.unresolved)
                    w.key("zombie")
                    w.array(s.zombie) { w.string($0.rawValue) }
                }
            }
            w.key("unmatched_sockets")
            w.array(report.unmatchedSockets) { k in
                w.object {
                    w.field("transport", k.transport.rawValue)
                    kernelFields(k, w, local)
                    clientFields(k, looked: report.clientsLookedUp, w)
                    w.key("zombie")
                    if let classes = k.zombie { w.array(classes) { w.string($0.rawValue) } } else { w.null() }
                }
            }
            w.key("listening_sockets")
            w.array(report.listeningSockets) { k in
                w.object {
                    w.field("transport", k.transport.rawValue)
                    kernelFields(k, w, local)
                }
            }
            w.key("warnings")
            w.array(report.warnings) { w.string($0) }
        }
        return w
    }

    /// `clients`: null unless `--clients`; then the processes holding the other end, lowest pid
    /// first (empty: none on this host, in mysqld's network namespace, that myconn may read).
    static func clientFields(_ k: SocketView?, looked: Bool, _ w: JSONWriter) {
        w.key("clients")
        guard looked else { w.null(); return }
        w.array(k?.clients ?? []) { c in
            w.object {
                w.field("pid", Int64(c.pid))
                w.field("command", c.command)
                w.field("uid", c.uid.map(Int64.init))
                w.field("fd", Int64(c.fd))
            }
        }
    }

    /// The kernel columns, shared by sessions and bare sockets so both spell them alike.
    static func kernelFields(_ k: SocketView?, _ w: JSONWriter, _ local: LocalText) {
        w.field("fd", k?.fd.map(Int64.init))
        w.field("inode", k?.inode.map { Int64(bitPattern: $0) })
        w.field("local", k?.local.map(local.text))
        w.field("peer", k?.peer?.description)
        w.field("tcp_state", k?.tcpState?.description)
        w.field("send_queue", k?.sendQueue.map(Int64.init))
        w.field("recv_queue", k?.recvQueue.map(Int64.init))
        let h = k?.health
        w.field("rtt_us", h.map { Int64($0.rttMicroseconds) })
        w.field("retransmits", h.map { Int64($0.retransmits) })
        w.field("probes", h.map { Int64($0.probes) })
        w.field("unacked", h.map { Int64($0.unacked) })
        w.field("last_recv_ms", h.map { Int64($0.lastReceiveMilliseconds) })
        w.field("last_send_ms", h.map { Int64($0.lastSendMilliseconds) })
    }
}


/// Every session's local end is one of mysqld's few listening addresses: each is printed once
/// (an IPv6 address goes through inet_ntop(3)), not once per session.
final class LocalText {
    private var last: (SocketEndpoint, String)?

    func text(_ e: SocketEndpoint) -> String {
        if let last, last.0 == e { return last.1 }
        let t = e.description
        last = (e, t)
        return t
    }
}
