import CRMAAdapters
import CRMAModel
import CRMANumerics
import CRMATraining

/// Elastic weight consolidation over the trainable parameters: after each domain, the diagonal
/// (empirical) Fisher `F_i = mean over batches of g_i²` and the anchor `θ*` are stored; training then
/// adds `(λ/2) Σ F_i (θ_i − θ*_i)²`. Online EWC decays the running Fisher by γ before adding the new one.
public final class ElasticWeightConsolidation {
    public let lambda: Float
    public let onlineGamma: Float?
    /// Per parameter name: Fisher diagonal and anchor values.
    public private(set) var fisher: [String: [Float]] = [:]
    public private(set) var anchor: [String: [Float]] = [:]

    public init(lambda: Float, onlineGamma: Float?) {
        self.lambda = lambda
        self.onlineGamma = onlineGamma
    }

    /// Estimates the Fisher from `batches` (one backward pass each) and anchors the current values.
    public func consolidate(params: [Parameter], pass: LlamaTrainingPass, batches: [TrainingBatch]) {
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
            if let old = fisher[p.name] {
                let g = onlineGamma ?? 1
                fisher[p.name] = zip(old, f[k]).map { g * $0 + $1 }
            } else {
                fisher[p.name] = f[k]
            }
            anchor[p.name] = p.value.array
        }
    }

    /// Adds the penalty's gradient `λ F (θ − θ*)` into `params`' gradients; returns the penalty.
    public func apply(_ params: [Parameter]) -> Double {
        var penalty = 0.0
        for p in params {
            guard let f = fisher[p.name], let a = anchor[p.name] else { continue }
            for i in 0..<p.count {
                let d = p.value[i] - a[i]
                p.grad[i] += lambda * f[i] * d
                penalty += Double(0.5 * lambda * f[i] * d * d)
            }
        }
        return penalty
    }
}
