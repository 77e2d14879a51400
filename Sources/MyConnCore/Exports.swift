// The kernel's vocabulary (addresses, TCP states, socket entries, tcp_info) is part of the
// core's own API: front ends and their tests see it through the core.
@_exported import SocketModel
