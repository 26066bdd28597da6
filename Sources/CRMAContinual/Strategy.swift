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
    /// Mid-update checks of earlier domains (the stability gap); `interval == 0` turns them off.
    public var stabilityCheck = StabilityCheck()

    public init() {}
}

/// Every `interval` steps of an update, score the first `sliceRows` holdout rows of each earlier domain;
/// if any drifts by more than `criticalPercent` from its loss when it was learned, stop the update.
public struct StabilityCheck: Sendable, Equatable {
    public var interval = 0
    public var sliceRows = 2
    public var criticalPercent = 10.0
    public init(interval: Int = 0, sliceRows: Int = 2, criticalPercent: Double = 10) {
        self.interval = interval
        self.sliceRows = sliceRows
        self.criticalPercent = criticalPercent
    }
}

/// An update stopped early by the stability check.
public struct StabilityStop: Sendable, Equatable, Codable {
    /// Steps taken before stopping.
    public var step: Int
    /// The earlier domain whose slice drifted, and by how much (percent).
    public var domain: String
    public var driftPercent: Double

    public init(step: Int, domain: String, driftPercent: Double) {
        self.step = step
        self.domain = domain
        self.driftPercent = driftPercent
    }
}
