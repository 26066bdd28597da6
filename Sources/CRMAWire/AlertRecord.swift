/// An alert, as sent to the journal, kept in SQLite and sent by `GET /v1/alerts` for `crmactl alerts`.
public struct AlertRecord: Sendable, Equatable, Codable {
    public var id: Int64
    /// Seconds since 1970.
    public var time: Double
    public var kind: String
    /// syslog priority (2 critical … 5 notice).
    public var priority: Int
    public var message: String
    public var domain: String?
    public var version: Int64?
    public var fields: [String: String]

    public init(
        id: Int64, time: Double, kind: String, priority: Int, message: String, domain: String?, version: Int64?,
        fields: [String: String]
    ) {
        self.id = id
        self.time = time
        self.kind = kind
        self.priority = priority
        self.message = message
        self.domain = domain
        self.version = version
        self.fields = fields
    }
}
