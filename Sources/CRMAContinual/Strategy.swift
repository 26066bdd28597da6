import CRMAAdapters
import CRMATraining

/// The continual-learning strategies of crma.md §6.
public enum Strategy: String, Sendable, Codable, CaseIterable {
    /// One shared LoRA trained on every domain in turn, no CRMA.
    case naive
    /// A fresh LoRA per domain; the base stays frozen; no CRMA.
    case frozen
    /// A fresh LoRA per domain plus the shared CRMA substrate (the default).
    case crma
    /// As crma, with the mixing matrix fixed to I (the ablation of the Sinkhorn constraint).
    case crmaIdentity = "crma-identity"
    /// naive, with part of every batch replayed from earlier domains' training rows.
    case replay
    /// naive plus the elastic weight consolidation penalty (diagonal Fisher; online variant optional).
    case ewc

    /// Whether each domain gets its own LoRA (evaluated with that LoRA).
    public var perDomainLoRA: Bool { self == .frozen || self == .crma || self == .crmaIdentity }
    /// Whether the CRMA substrate is trained and used.
    public var usesCRMA: Bool { self == .crma || self == .crmaIdentity }
}

/// Settings of a continual-learning run.
public struct ContinualConfig: Sendable {
    public var strategy: Strategy = .crma
    public var lora = LoRAConfig()
    public var crma = CRMAConfig()
    public var optimizer = OptimizerConfig()
    public var stepsPerDomain = 100
    public var batchRows = 4
    /// replay: fraction of each batch drawn from earlier domains.
    public var replayRatio = 0.25
    /// ewc: penalty strength λ, and the online decay γ (nil = offline: Fishers are summed).
    public var ewcLambda: Float = 100
    public var ewcOnlineGamma: Float?
    /// Batches used to estimate the diagonal Fisher after each domain.
    public var fisherBatches = 4
    public var seed: UInt64 = 0

    public init() {}
}
