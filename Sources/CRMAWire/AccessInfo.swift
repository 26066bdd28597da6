/// What `GET /v1/access` answers: which listener the request came through and whether its caller may
/// change state (the dashboard shows its rollback buttons only then).
public struct AccessInfo: Sendable, Codable, Equatable {
    /// "socket" (the control socket) or "tcp" (the token-protected listener, which never changes state).
    public var listener: String
    /// The peer's uid on the socket (SO_PEERCRED); nil on the TCP listener.
    public var uid: UInt32?
    public var mayChangeState: Bool

    public init(listener: String, uid: UInt32?, mayChangeState: Bool) {
        self.listener = listener
        self.uid = uid
        self.mayChangeState = mayChangeState
    }
}
