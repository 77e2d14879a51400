/// `myconn list --json`: the contract documented in README.md. Unknown values are `null`, never
/// absent; keys keep the documented order.
///
/// Written by hand rather than with Foundation's JSONEncoder: at thousands of sessions the
/// encoder cost more than reading the kernel's tables (measured: 28 ms of 93 at 1,000 sessions).
/// In the core beside ``JSONWriter``, so that the optimizer inlines the writer's calls (one per
/// field, about 30 per session), and so that every front end prints the same document.
public enum JSONReport {
    /// Writes the document, a newline after it, to `sink` in pieces of 64 KiB (see
    /// ``JSONWriter/init(capacity:sink:)``).
    public static func write(_ report: ListReport, to sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        let w = JSONWriter(capacity: 1 << 16, sink: sink)
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
                w.object { sessionFields(s, clientsLookedUp: report.clientsLookedUp, w) }
            }
            w.key("unmatched_sockets")
            w.array(report.unmatchedSockets) { k in
                w.object {
                    w.field("transport", k.transport.rawValue)
                    kernelFields(k, w)
                    clientFields(k, looked: report.clientsLookedUp, w)
                    w.key("zombie")
                    if let classes = k.zombie { w.array(classes) { w.string($0.rawValue) } } else { w.null() }
                }
            }
            w.key("listening_sockets")
            w.array(report.listeningSockets) { k in
                w.object {
                    w.field("transport", k.transport.rawValue)
                    kernelFields(k, w)
                }
            }
            w.key("warnings")
            w.array(report.warnings) { w.string($0) }
        }
        w.newline()
        w.flush()
    }

    /// One session's fields, as in `sessions` of the document (`serve`'s `/sessions/{id}` too).
    public static func sessionFields(_ s: SessionView, clientsLookedUp: Bool, _ w: JSONWriter) {
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
        kernelFields(s.socket, w)
        clientFields(s.socket, looked: clientsLookedUp, w)
        w.field("match", s.match?.rawValue)
        w.field("unresolved", s.unresolved)
        w.key("zombie")
        w.array(s.zombie) { w.string($0.rawValue) }
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
    static func kernelFields(_ k: SocketView?, _ w: JSONWriter) {
        guard let k else {
            for key: StaticString in ["fd", "inode", "local", "peer", "tcp_state", "send_queue", "recv_queue", "rtt_us",
                                      "retransmits", "total_retrans", "probes", "unacked", "last_recv_ms", "last_send_ms"] {
                w.field(key, nil as Int64?)
            }
            return
        }
        w.field("fd", k.fd.map(Int64.init))
        w.field("inode", k.inode.map { Int64(bitPattern: $0) })
        switch k.local {
        case .inet(let a)?: w.field("local", a)
        case .unix(let path)?: w.field("local", path)
        case nil: w.field("local", nil as String?)
        }
        w.field("peer", k.peer)
        w.field("tcp_state", k.tcpState?.description)
        w.field("send_queue", k.sendQueue.map(Int64.init))
        w.field("recv_queue", k.recvQueue.map(Int64.init))
        if let h = k.health {
            w.field("rtt_us", Int64(h.rttMicroseconds))
            w.field("retransmits", Int64(h.retransmits))
            w.field("total_retrans", Int64(h.totalRetransmits))
            w.field("probes", Int64(h.probes))
            w.field("unacked", Int64(h.unacked))
            w.field("last_recv_ms", Int64(h.lastReceiveMilliseconds))
            w.field("last_send_ms", Int64(h.lastSendMilliseconds))
        } else {
            for key: StaticString in ["rtt_us", "retransmits", "total_retrans", "probes", "unacked", "last_recv_ms", "last_send_ms"] {
                w.field(key, nil as Int64?)
            }
        }
    }
}
