import CRMAAdapters
import CRMANumerics

/// AdamW over a fixed list of parameters, with per-group learning rates (decoupled weight decay).
public final class AdamW {
    public let config: OptimizerConfig
    public let parameters: [Parameter]
    /// First and second moments, one buffer per parameter.
    public let m: [FloatBuffer]
    public let v: [FloatBuffer]
    /// Optimizer steps taken.
    public internal(set) var stepCount = 0

    public init(parameters: [Parameter], config: OptimizerConfig) {
        self.parameters = parameters
        self.config = config
        m = parameters.map { FloatBuffer(count: $0.count) }
        v = parameters.map { FloatBuffer(count: $0.count) }
    }

    /// Applies one update with learning rates scaled by `lrMultiplier`.
    public func step(lrMultiplier: Float) {
        stepCount += 1
        let b1 = config.beta1, b2 = config.beta2, eps = config.epsilon
        let c1 = 1 - Float.pow(b1, stepCount), c2 = 1 - Float.pow(b2, stepCount)
        for (k, p) in parameters.enumerated() {
            let lr = (config.learningRates[p.group] ?? 0) * lrMultiplier
            let w = p.value.pointer, g = p.grad.pointer, mk = m[k].pointer, vk = v[k].pointer
            let decay = 1 - lr * config.weightDecay
            for i in 0..<p.count {
                mk[i] = b1 * mk[i] + (1 - b1) * g[i]
                vk[i] = b2 * vk[i] + (1 - b2) * g[i] * g[i]
                let mh = mk[i] / c1, vh = vk[i] / c2
                w[i] = w[i] * decay - lr * mh / (vh.squareRoot() + eps)
            }
        }
    }
}

extension Float {
    static func pow(_ x: Float, _ n: Int) -> Float {
        var r: Float = 1
        for _ in 0..<n { r *= x }
        return r
    }
}
