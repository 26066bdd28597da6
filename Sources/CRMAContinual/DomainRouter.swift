import CRMAAdapters
import CRMAModel

/// Picks, for a request that names no domain, the domain whose adapters should answer it (the inference
/// API's `model: "crma"`): the request's text is scored under each learned domain's adapters, and the
/// domain that finds it most likely wins. No classifier to train or keep in step with the versions: the
/// adapters a domain was learned with are its own detector. `crma-bench route` measures it on the task
/// domains' holdout prompts.
public struct DomainRouter {
    /// A routing decision: the domain and every candidate's mean loss on the text (nats per token).
    public struct Decision: Sendable, Equatable {
        public var domain: String
        public var losses: [String: Double]
    }

    public let model: LlamaModel
    /// The text is scored on its last `maxTokens` tokens at most (the part nearest the answer).
    public let maxTokens: Int

    public init(model: LlamaModel, maxTokens: Int = 256) {
        self.model = model
        self.maxTokens = maxTokens
    }

    /// The domain among `candidates` (name, adapters) for a request whose text is `tokens`; nil without
    /// candidates. A text of fewer than two tokens cannot be scored: the first candidate is taken.
    public func route(_ tokens: [Int32], candidates: [(name: String, adapters: AdapterSet)]) -> Decision? {
        guard let first = candidates.first else { return nil }
        let ids = Array(tokens.suffix(min(maxTokens, model.config.contextLength + 1)))
        guard ids.count >= 2 else { return Decision(domain: first.name, losses: [:]) }
        let batch = TrainingBatch.causal([ids], seqLen: ids.count - 1)
        func loss(_ adapters: AdapterSet) -> Double { LlamaTrainingPass(model: model, hooks: adapters).forward(batch) }
        var losses: [String: Double] = [:]
        for c in candidates { losses[c.name] = loss(c.adapters) }
        let best = candidates.map(\.name).min { losses[$0]! < losses[$1]! }!
        return Decision(domain: best, losses: losses)
    }
}
