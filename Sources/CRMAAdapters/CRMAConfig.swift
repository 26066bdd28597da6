/// The settings of the CRMA substrate (crma.md §2–3), including the ablation switches.
public struct CRMAConfig: Sendable, Equatable, Codable {
    public enum Mixing: String, Sendable, Codable { case sinkhorn, identity }
    public enum Variant: String, Sendable, Codable { case lowrank, tied }
    public enum Read: String, Sendable, Codable { case normalized, raw }

    /// With `false` the adapter is off: h = y (the paper's "injection toggled off").
    public var enabled = true
    /// n: streams read from and written to the residual.
    public var streams = 4
    /// K: Sinkhorn rounds (each a row then a column normalization).
    public var sinkhornIterations = 20
    /// Initial `log_alpha` (lowrank: g = exp(log_alpha) ≈ 0.05; tied: g = sigmoid(log_alpha)).
    public var gateInit: Float = -3
    public var mixing = Mixing.sinkhorn
    public var variant = Variant.lowrank
    public var read = Read.normalized
    /// Initial mixing logits are `diagonal · I`.
    public var mixInitDiagonal: Float = 2
    /// `log_mix` is clamped to ±this after every optimizer step (Sinkhorn converges while logits stay small).
    public var logMixClamp: Float = 4

    public init() {}
}
