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
    /// Whether an update trains nothing but its domain's own fresh LoRA (nothing shared, no penalty tied to
    /// the earlier LoRAs), so its result can be placed onto another parent as it is
    /// (``LearnedState/rebased(onto:domain:strategy:)``). Only frozen: naive, replay, ewc and lwf train a
    /// shared LoRA, crma the shared substrate, and olora's penalty depends on the earlier LoRAs.
    public var rebasable: Bool { self == .frozen }
}

/// Where learning without forgetting's teacher states come from.
public enum TeacherMode: String, Sendable, Codable, CaseIterable {
    /// A second forward pass per step through the frozen base with the previous adapters.
    case live
    /// Computed once per batch and kept on disk (in the run's cache directory).
    case cached
}
