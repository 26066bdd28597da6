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
    /// Learning without forgetting: naive's shared LoRA, with the loss distilled against the model as it
    /// was before the update (`α·CE + (1 − α)·T²·KL(teacher ‖ student)`).
    case lwf
    /// O-LoRA: a fresh LoRA per domain kept orthogonal to the earlier ones' input subspaces; the earlier
    /// LoRAs stay frozen and every LoRA is active (summed) whatever is scored, so no domain id is needed.
    case olora

    /// Whether each domain gets its own LoRA.
    public var perDomainLoRA: Bool { self == .frozen || self == .crma || self == .crmaIdentity || self == .olora }
    /// Whether every learned LoRA is active at once (O-LoRA) rather than the one of the domain scored.
    public var sumsLoRAs: Bool { self == .olora }
    /// Whether the CRMA substrate is trained and used.
    public var usesCRMA: Bool { self == .crma || self == .crmaIdentity }
}

/// Where learning without forgetting's teacher states come from.
public enum TeacherMode: String, Sendable, Codable, CaseIterable {
    /// A second forward pass per step through the frozen base with the previous adapters.
    case live
    /// Computed once per batch and kept on disk (in the run's cache directory).
    case cached
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
    /// lwf: weight of the data's cross-entropy, softmax temperature, and where the teacher comes from
    /// (`cached` keeps the states under `teacherCacheDirectory`, one subdirectory per domain).
    public var lwfAlpha: Float = 0.5
    public var lwfTemperature: Float = 2
    public var lwfTeacher = TeacherMode.live
    public var teacherCacheDirectory: String?
    /// olora: strength λ of the orthogonality penalty.
    public var oloraLambda: Float = 0.5
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

extension StabilityCheck {
    /// One earlier domain's holdout slice and its loss when it was learned.
    public struct Slice {
        public var domain: String
        public var rows: [PackedRow]
        public var reference: Double
        public init(domain: String, rows: [PackedRow], reference: Double) {
            self.domain = domain
            self.rows = rows
            self.reference = reference
        }
    }

    /// The first slice (in the order given) whose loss now, `score(slice)`, drifted above
    /// `criticalPercent` from its reference; nil when every slice is within it.
    public func firstUnstable(_ slices: [Slice], step: Int, score: (Slice) -> Double) -> StabilityStop? {
        for s in slices where !s.rows.isEmpty {
            let drift = 100 * (score(s) - s.reference) / s.reference
            if drift > criticalPercent { return StabilityStop(step: step, domain: s.domain, driftPercent: drift) }
        }
        return nil
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
