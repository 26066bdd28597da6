import Foundation

/// One update job (a batch of a domain's files), as stored and as the control API shows it.
public struct JobRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var domain: String
    public var state: JobState
    public var strategy: String
    public var createdAt: Double
    public var updatedAt: Double
    /// Not started before this time (the ingest debounce window).
    public var notBefore: Double
    public var step: Int
    public var totalSteps: Int
    /// The accepted version it produced, or the rolled-back candidate.
    public var versionID: Int64?
    public var message: String?
}

/// An immutable model version: adapter blob, lineage and the metrics that admitted (or refused) it.
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
    public var createdAt: Double
    public var active: Bool
    /// How each domain of this lineage was learned: its strategy, its pinned holdout rows and the
    /// reference measured on them (`references` mirrors the references for older readers).
    public var lineage: [String: DomainLineage] = [:]
}

/// How a domain in a version's lineage was learned. The gate judges the domain on exactly these rows,
/// with the adapters of this strategy, against this reference, whatever was ingested or configured since.
public struct DomainLineage: Sendable, Equatable, Codable {
    /// The strategy the domain was learned with (it decides which adapters score it).
    public var strategy: String
    /// Its holdout loss on the pinned rows when it was learned.
    public var reference: Double
    /// Blob holding the packed holdout rows (JSON) the reference was measured on.
    public var holdoutRows: String
    /// The documents (blob hashes) those rows were packed from, and the packing's sequence length.
    public var holdoutDocuments: [String]
    public var sequenceLength: Int

    public init(strategy: String, reference: Double, holdoutRows: String, holdoutDocuments: [String], sequenceLength: Int) {
        self.strategy = strategy
        self.reference = reference
        self.holdoutRows = holdoutRows
        self.holdoutDocuments = holdoutDocuments
        self.sequenceLength = sequenceLength
    }
}

/// A gate reason as stored: the schema is the registry's own (it outlives changes to CRMAMonitor's
/// `GateReason`), so it is a separate type; `severity` adds "stale" (the parent stopped being active).
public struct GateReasonRecord: Sendable, Equatable, Codable {
    public var severity: String
    public var metric: String
    public var value: Double
    public var reference: Double
    public var degradationPercent: Double
    public var thresholdPercent: Double
}

/// An alert, as sent to the journal and kept in SQLite for `crmactl alerts`.
public struct AlertRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var time: Double
    public var kind: String
    public var priority: Int
    public var message: String
    public var domain: String?
    public var version: Int64?
    public var fields: [String: String]
}

/// A stored source file.
public struct FileRecord: Sendable, Equatable, Codable {
    public var hash: String
    public var domain: String
    public var name: String
    public var bytes: Int
    public var documents: Int
    public var ingestedAt: Double
}

/// A domain as the control API lists it.
public struct DomainRecord: Sendable, Equatable, Codable {
    public var name: String
    public var files: Int
    public var trainDocuments: Int
    public var holdoutDocuments: Int
    public var learnedLoss: Double?
    public var currentLoss: Double?
}
