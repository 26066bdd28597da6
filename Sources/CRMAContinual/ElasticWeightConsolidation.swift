import CRMAAdapters
import CRMAModel
import CRMANumerics
import CRMATraining

/// What elastic weight consolidation remembers of the domains learned so far, per parameter name: the
/// diagonal (empirical) Fisher `F_i` and the anchor `θ*_i`. It travels with the adapters it was computed
/// for (``LearnedState``; the daemon stores it in the version's adapter file).
public struct FisherMemory: Sendable, Equatable {
    public var fisher: [String: [Float]] = [:]
    public var anchor: [String: [Float]] = [:]
    public init(fisher: [String: [Float]] = [:], anchor: [String: [Float]] = [:]) {
        self.fisher = fisher
        self.anchor = anchor
    }
    public var isEmpty: Bool { fisher.isEmpty }
}

/// Elastic weight consolidation over the trainable parameters: after each domain, the diagonal
/// (empirical) Fisher `F_i = mean over batches of g_i²` and the anchor `θ*` are stored; training then
/// adds `(λ/2) Σ F_i (θ_i − θ*_i)²`. Online EWC decays the running Fisher by γ before adding the new one
/// (γ = 1, or nil, sums them: the offline form).
public struct ElasticWeightConsolidation: Sendable {
    public let lambda: Float
    public let onlineGamma: Float?
    public var memory: FisherMemory

    public init(lambda: Float, onlineGamma: Float?, memory: FisherMemory = FisherMemory()) {
        self.lambda = lambda
        self.onlineGamma = onlineGamma
        self.memory = memory
    }

    public var fisher: [String: [Float]] { memory.fisher }

    /// Estimates the Fisher from `batches` (one backward pass each) and anchors the current values.
    public mutating func consolidate(params: [Parameter], pass: LlamaTrainingPass, batches: [TrainingBatch]) {
        var f = params.map { [Float](repeating: 0, count: $0.count) }
        for b in batches {
            params.forEach { $0.zeroGrad() }
            pass.forwardBackward(b)
            for (k, p) in params.enumerated() {
                for i in 0..<p.count { f[k][i] += p.grad[i] * p.grad[i] / Float(batches.count) }
            }
        }
        params.forEach { $0.zeroGrad() }
        for (k, p) in params.enumerated() {
            if let old = memory.fisher[p.name] {
                let g = onlineGamma ?? 1
                memory.fisher[p.name] = zip(old, f[k]).map { g * $0 + $1 }
            } else {
                memory.fisher[p.name] = f[k]
            }
            memory.anchor[p.name] = p.value.array
        }
    }

    /// Adds the penalty's gradient `λ F (θ − θ*)` into `params`' gradients; returns the penalty.
    public func apply(_ params: [Parameter]) -> Double {
        var penalty = 0.0
        for p in params {
            guard let f = memory.fisher[p.name], let a = memory.anchor[p.name], f.count == p.count else { continue }
            for i in 0..<p.count {
                let d = p.value[i] - a[i]
                p.grad[i] += lambda * f[i] * d
                penalty += Double(0.5 * lambda * f[i] * d * d)
            }
        }
        return penalty
    }
}
