/// An immutable model version: adapter blob, lineage and the metrics that admitted (or refused) it. As
/// stored in the registry and as `GET /v1/versions` and `/v1/versions/{id}` send it.
public struct VersionRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var parentID: Int64?
    public var domain: String?
    public var jobID: Int64?
    /// "accepted" or "rolled_back" ("base" for version 1, the model without adapters).
    public var state: String
    public var adaptersHash: String?
    public var configHash: String
    public var dataHashes: [String]
    /// Holdout loss of each domain when it was learned (the drift references of this lineage).
    public var references: [String: Double]
    /// Holdout loss of each learned domain under this version (a row of the loss matrix).
    public var losses: [String: Double]
    public var general: [String: Double]
    public var reasons: [GateReasonRecord]
    /// Seconds since 1970.
    public var createdAt: Double
    public var active: Bool
    /// How each domain of this lineage was learned: its strategy, its pinned holdout rows and the
    /// reference measured on them (`references` mirrors the references for older readers).
    public var lineage: [String: DomainLineage] = [:]

    public init(
        id: Int64, parentID: Int64?, domain: String?, jobID: Int64?, state: String, adaptersHash: String?,
        configHash: String, dataHashes: [String], references: [String: Double], losses: [String: Double],
        general: [String: Double], reasons: [GateReasonRecord], createdAt: Double, active: Bool,
        lineage: [String: DomainLineage] = [:]
    ) {
        self.id = id
        self.parentID = parentID
        self.domain = domain
        self.jobID = jobID
        self.state = state
        self.adaptersHash = adaptersHash
        self.configHash = configHash
        self.dataHashes = dataHashes
        self.references = references
        self.losses = losses
        self.general = general
        self.reasons = reasons
        self.createdAt = createdAt
        self.active = active
        self.lineage = lineage
    }
}
