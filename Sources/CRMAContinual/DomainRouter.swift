import CRMAAdapters
import CRMAModel

/// Picks, for a request that names no domain, the domain whose adapters should answer it (the inference
/// API's `model: "crma"`): the request's embedding under the base model (``RoutingCentroid``) is compared
/// with each learned domain's centroid, and the most similar domain wins if its cosine similarity reaches
/// `minimumSimilarity`; otherwise no domain claims the request and the base model answers. One base-model
/// pass per request; the centroids are computed when a domain is learned and kept with the version.
///
/// Measured on the task domains' holdout questions (`crma-bench route`, docs/results/routing-2026-11-30):
/// this picks the right domain far more often than scoring the request under each domain's adapters (the
/// adapters were trained on answers, not on questions) and costs one pass instead of one per domain.
public struct DomainRouter {
    /// Below this cosine similarity to every domain's centroid, the base model answers (measured on
    /// general text against the task domains' questions: docs/results/routing-2026-11-30).
    public static let defaultMinimumSimilarity: Float = 0.85

    /// A routing decision: the domain (nil: none claims it, the base model answers) and each domain's
    /// similarity to the request.
    public struct Decision: Sendable, Equatable {
        public var domain: String?
        public var similarities: [String: Float]
    }

    public let model: LlamaModel
    public let minimumSimilarity: Float
    /// The request is embedded on its last `maxTokens` tokens at most.
    public let maxTokens: Int

    public init(model: LlamaModel, minimumSimilarity: Float = DomainRouter.defaultMinimumSimilarity, maxTokens: Int = 256) {
        self.model = model
        self.minimumSimilarity = minimumSimilarity
        self.maxTokens = maxTokens
    }

    /// The decision for a request whose text is `tokens`, among `centroids` (domain → centroid); nil without
    /// centroids.
    public func route(_ tokens: [Int32], centroids: [String: [Float]]) -> Decision? {
        guard !centroids.isEmpty else { return nil }
        let e = RoutingCentroid.embedding(model: model, tokens: Array(tokens.suffix(maxTokens)))
        return Self.decide(
            similarities: centroids.mapValues { RoutingCentroid.similarity(e, $0) }, minimum: minimumSimilarity)
    }

    /// The rule: the most similar domain (alphabetically first on a tie), if it reaches `minimum`.
    public static func decide(similarities: [String: Float], minimum: Float) -> Decision {
        let best = similarities.keys.sorted().max { similarities[$0]! < similarities[$1]! }
        return Decision(domain: best.flatMap { similarities[$0]! >= minimum ? $0 : nil }, similarities: similarities)
    }
}
