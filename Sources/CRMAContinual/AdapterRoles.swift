import CRMAAdapters

/// Which adapters a strategy trains and which score a domain (crma.md §6), over a set of LoRAs keyed by
/// name: a domain's own LoRA is named after it, the one LoRA of naive, replay, ewc and lwf is "shared".
/// The continual learner and the daemon both ask it, so benchmark and service agree.
public struct AdapterRoles: Sendable {
    public let strategy: Strategy

    public init(_ strategy: Strategy) { self.strategy = strategy }

    /// The LoRA that learns (and, unless LoRAs are summed, scores) `domain`.
    public func loraName(for domain: String) -> String { strategy.perDomainLoRA ? domain : "shared" }

    /// The adapters that score `domain`: every LoRA (O-LoRA), the domain's own, or the shared one; with
    /// the substrate. LoRAs are summed in name order, so the result does not depend on insertion order.
    public func scoring(_ domain: String, loras: [String: LoRA], crma: CRMA?) -> AdapterSet {
        if strategy.sumsLoRAs { return AdapterSet(loras: Self.ordered(loras), crma: crma) }
        return AdapterSet(loras: loras[loraName(for: domain)].map { [$0] } ?? [], crma: crma)
    }

    /// The adapters in a training forward pass: the trained LoRA, after every other one for O-LoRA
    /// (frozen, but active as they are when scoring).
    public func training(_ trained: LoRA, loras: [String: LoRA], crma: CRMA?) -> AdapterSet {
        guard strategy.sumsLoRAs else { return AdapterSet(loras: [trained], crma: crma) }
        return AdapterSet(loras: Self.ordered(loras.filter { $0.value !== trained }) + [trained], crma: crma)
    }

    /// What stays active without a domain id, for the general benchmarks: the shared LoRA (naive, replay,
    /// ewc, lwf), every LoRA (O-LoRA), or none (frozen, crma, crma-identity), with the substrate.
    public func substrate(loras: [String: LoRA], crma: CRMA?) -> AdapterSet {
        if strategy.sumsLoRAs { return AdapterSet(loras: Self.ordered(loras), crma: crma) }
        return AdapterSet(loras: strategy.perDomainLoRA ? [] : (loras["shared"].map { [$0] } ?? []), crma: crma)
    }

    static func ordered(_ loras: [String: LoRA]) -> [LoRA] { loras.keys.sorted().map { loras[$0]! } }
}
