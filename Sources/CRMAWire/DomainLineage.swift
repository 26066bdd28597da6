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

    public init(
        strategy: String, reference: Double, holdoutRows: String, holdoutDocuments: [String], sequenceLength: Int
    ) {
        self.strategy = strategy
        self.reference = reference
        self.holdoutRows = holdoutRows
        self.holdoutDocuments = holdoutDocuments
        self.sequenceLength = sequenceLength
    }
}
