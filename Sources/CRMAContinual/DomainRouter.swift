import CRMAAdapters
import CRMAModel

/// Picks, for a request that names no domain, the domain whose adapters should answer it (the inference
/// API's `model: "crma"`): the request's text is scored under each learned domain's adapters and under the
/// base model, and the domain that finds it most likely wins — if it beats the base model by at least
/// `fallbackMargin` nats per token; otherwise no domain claims the request and the base model answers. No
/// classifier to train or keep in step with the versions: the adapters a domain was learned with are its
/// own detector. `crma-bench route` measures it on the task domains' holdout questions.
public struct DomainRouter {
    /// The default margin: a domain's adapters must lower the request's loss below the base model's by this
    /// much (nats per token) to claim it (measured: docs/results/routing-2026-11-30).
    public static let defaultFallbackMargin = 0.0

    /// A routing decision: the domain (nil: none claims it, the base model answers), every candidate's mean
    /// loss on the text (nats per token) and the base model's.
    public struct Decision: Sendable, Equatable {
        public var domain: String?
        public var losses: [String: Double]
        public var baseLoss: Double?
    }

    public let model: LlamaModel
    public let fallbackMargin: Double
    /// The text is scored on its last `maxTokens` tokens at most (the part nearest the answer).
    public let maxTokens: Int

    public init(model: LlamaModel, fallbackMargin: Double = DomainRouter.defaultFallbackMargin, maxTokens: Int = 256) {
        self.model = model
        self.fallbackMargin = fallbackMargin
        self.maxTokens = maxTokens
    }

    /// The decision for a request whose text is `tokens` among `candidates` (name, adapters); nil without
    /// candidates. A text of fewer than two tokens cannot be scored: the base model answers it.
    public func route(_ tokens: [Int32], candidates: [(name: String, adapters: AdapterSet)]) -> Decision? {
        guard !candidates.isEmpty else { return nil }
        let ids = Array(tokens.suffix(min(maxTokens, model.config.contextLength + 1)))
        guard ids.count >= 2 else { return Decision(domain: nil, losses: [:], baseLoss: nil) }
        let batch = TrainingBatch.causal([ids], seqLen: ids.count - 1)
        func loss(_ adapters: AdapterSet) -> Double { LlamaTrainingPass(model: model, hooks: adapters).forward(batch) }
        var losses: [String: Double] = [:]
        for c in candidates { losses[c.name] = loss(c.adapters) }
        let base = loss(AdapterSet())
        return Self.decide(losses: losses, order: candidates.map(\.name), baseLoss: base, margin: fallbackMargin)
    }

    /// The rule on scored losses: the lowest (first in `order` on a tie), if it is at least `margin` below
    /// `baseLoss`.
    public static func decide(losses: [String: Double], order: [String], baseLoss: Double, margin: Double) -> Decision {
        let best = order.min { losses[$0]! < losses[$1]! }
        let claimed = best.flatMap { losses[$0]! <= baseLoss - margin ? $0 : nil }
        return Decision(domain: claimed, losses: losses, baseLoss: baseLoss)
    }
}
