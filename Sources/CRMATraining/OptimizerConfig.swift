import Foundation
import CRMAAdapters

/// AdamW, schedule and clipping settings (crma.md §5). Defaults are the SmolLM2-135M ones.
public struct OptimizerConfig: Sendable, Equatable, Codable {
    /// Learning rate per parameter group.
    public var learningRates: [ParameterGroup: Float] = [.proj: 5e-4, .structural: 5e-3, .gate: 1e-3]
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0
    /// Fraction of the run spent warming up linearly before the cosine decay.
    public var warmupFraction: Double = 0.03
    /// Global-norm clipping threshold, applied separately to LoRA and CRMA gradients (0 = off).
    public var clipNorm: Float = 1
    /// Use ZClip (z-score adaptive clipping) instead of the fixed threshold.
    public var zclip = false
    public var zclipAlpha: Float = 0.97
    public var zclipZ: Float = 2.5
    /// Non-finite steps in a row that stop the run.
    public var maxConsecutiveSkips = 5

    public init() {}
}

/// Cosine learning-rate schedule with linear warm-up: the multiplier of the base learning rate at `step`
/// (0-based) of `total` steps.
public struct CosineSchedule: Sendable, Equatable, Codable {
    public let total: Int
    public let warmup: Int

    public init(total: Int, warmupFraction: Double) {
        self.total = max(total, 1)
        warmup = Int((Double(total) * warmupFraction).rounded(.up))
    }

    public func multiplier(at step: Int) -> Float {
        if step < warmup { return Float(step + 1) / Float(warmup + 1) }
        let progress = Double(step - warmup) / Double(max(total - warmup, 1))
        return Float(0.5 * (1 + Foundation.cos(Double.pi * min(progress, 1))))
    }
}
