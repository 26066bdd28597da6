import CRMAAdapters
import CRMAModel

/// Picks, for a request that names no domain, the domain whose adapters should answer it (the inference
/// API's `model: "crma"`), from the request's embedding under the base model (``RoutingCentroid``): one
/// base-model pass per request.
///
/// - With every domain's routing examples (kept with the version since they existed) and examples of text
///   that belongs to no domain (the general benchmarks' documents), a ``RoutingClassifier`` with one class
///   per domain plus a "no domain" class decides; "no domain" means the base model answers.
/// - Otherwise (versions learned before examples were kept) the domain whose centroid is most similar wins
///   if its cosine similarity reaches `minimumSimilarity`, else the base model answers.
///
/// Measured on the task domains' holdout questions (`crma-bench route`, docs/results/routing-…).
public struct DomainRouter: Sendable {
    /// Below this cosine similarity to every domain's centroid, the centroid rule sends a request to the
    /// base model (measured on general text against the task domains' questions: docs/results/routing-2026-11-30).
    public static let defaultMinimumSimilarity: Float = 0.85

    /// A routing decision: the domain (nil: none claims it, the base model answers) and each domain's
    /// similarity to the request.
    public struct Decision: Sendable, Equatable {
        public var domain: String?
        public var similarities: [String: Float]
    }

    /// How a router decides.
    public enum Method: String, Sendable {
        case classifier, centroid
    }

    public let model: LlamaModel
    public let minimumSimilarity: Float
    /// The request is embedded on its last `maxTokens` tokens at most.
    public let maxTokens: Int
    public let centroids: [String: [Float]]
    /// The classifier's classes: the domains, sorted; the class after them is "no domain".
    let domains: [String]
    let classifier: RoutingClassifier?

    /// A router among `centroids`' domains. With `examples` for each of them (flat `[n × hidden]`) and
    /// `general` examples, it fits a classifier (unless `method` is `.centroid`); else it uses the centroids.
    public init(
        model: LlamaModel, centroids: [String: [Float]], examples: [String: [Float]] = [:], general: [Float] = [],
        method: Method = .classifier, minimumSimilarity: Float = DomainRouter.defaultMinimumSimilarity,
        maxTokens: Int = 256
    ) {
        self.model = model
        self.minimumSimilarity = minimumSimilarity
        self.maxTokens = maxTokens
        self.centroids = centroids
        domains = centroids.keys.sorted()
        let d = model.config.hiddenSize
        func rows(_ flat: [Float]) -> [[Float]] {
            stride(from: 0, to: flat.count - flat.count % d, by: d).map { Array(flat[$0..<($0 + d)]) }
        }
        let classes = domains.map { rows(examples[$0] ?? []) } + [rows(general)]
        classifier =
            method == .classifier && !domains.isEmpty && classes.allSatisfy({ !$0.isEmpty })
            ? RoutingClassifier(examples: classes) : nil
    }

    /// The router among `domains` of a learned state, from the routing centroids and examples the state
    /// kept for them, with `general` examples (``RoutingCentroid/generalExamples(model:tokenizer:documents:)``)
    /// as the "no domain" class: how crmad's `model: "crma"` and `crma-bench route` build it.
    public init(
        learned state: LearnedState, domains: Set<String>, model: LlamaModel, general: [Float],
        method: Method = .classifier, minimumSimilarity: Float = DomainRouter.defaultMinimumSimilarity
    ) {
        self.init(
            model: model, centroids: state.routing.filter { domains.contains($0.key) },
            examples: state.routingExamples.filter { domains.contains($0.key) }, general: general, method: method,
            minimumSimilarity: minimumSimilarity)
    }

    /// How this router decides.
    public var method: Method { classifier == nil ? .centroid : .classifier }

    /// The decision for a request whose text is `tokens`; nil when no domain has been learned.
    public func route(_ tokens: [Int32]) -> Decision? {
        guard !centroids.isEmpty else { return nil }
        let e = RoutingCentroid.embedding(model: model, tokens: Array(tokens.suffix(maxTokens)))
        return decide(embedding: e)
    }

    /// The decision for a request's embedding.
    public func decide(embedding e: [Float]) -> Decision {
        let similarities = centroids.mapValues { RoutingCentroid.similarity(e, $0) }
        guard let classifier else { return Self.decide(similarities: similarities, minimum: minimumSimilarity) }
        let k = classifier.classify(e)
        return Decision(domain: k < domains.count ? domains[k] : nil, similarities: similarities)
    }

    /// The centroid rule: the most similar domain (alphabetically first on a tie), if it reaches `minimum`.
    public static func decide(similarities: [String: Float], minimum: Float) -> Decision {
        let best = similarities.keys.sorted().max { similarities[$0]! < similarities[$1]! }
        return Decision(domain: best.flatMap { similarities[$0]! >= minimum ? $0 : nil }, similarities: similarities)
    }
}
