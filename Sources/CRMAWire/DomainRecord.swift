/// A domain as `GET /v1/domains` lists it.
public struct DomainRecord: Sendable, Equatable, Codable {
    public var name: String
    public var files: Int
    public var trainDocuments: Int
    public var holdoutDocuments: Int
    /// Holdout loss (nats/token) when the domain was learned, and under the active version.
    public var learnedLoss: Double?
    public var currentLoss: Double?

    public init(
        name: String, files: Int, trainDocuments: Int, holdoutDocuments: Int, learnedLoss: Double?, currentLoss: Double?
    ) {
        self.name = name
        self.files = files
        self.trainDocuments = trainDocuments
        self.holdoutDocuments = holdoutDocuments
        self.learnedLoss = learnedLoss
        self.currentLoss = currentLoss
    }
}
