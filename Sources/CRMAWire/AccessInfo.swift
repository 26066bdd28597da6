/// What `GET /v1/access` answers: which listener the request came through and whether its caller may
/// change state (the dashboard shows its rollback buttons only then).
public struct AccessInfo: Sendable, Codable, Equatable {
    /// The listeners of crmad's control API.
    public enum Listener: String, Sendable, Codable {
        /// The control socket: calls that change state are allowed by the peer's uid and gid.
        case socket
        /// The token-protected TCP listener, which never changes state.
        case tcp
    }

    public var listener: Listener
    /// The peer's uid on the socket (SO_PEERCRED); nil on the TCP listener.
    public var uid: UInt32?
    /// Whether this caller may pause, resume, roll back, retry, cancel and export.
    public var mayChangeState: Bool

    public init(listener: Listener, uid: UInt32?, mayChangeState: Bool) {
        self.listener = listener
        self.uid = uid
        self.mayChangeState = mayChangeState
    }
}
