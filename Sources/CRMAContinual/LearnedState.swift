import CRMAAdapters
import CRMAModel

/// Everything an update builds on and produces: every LoRA by name (one per domain, or the one named
/// "shared"), the CRMA substrate, and EWC's Fisher memory. A parent state is never changed by an update:
/// ``DomainUpdate`` trains a ``copy()``, so a rolled-back candidate can simply be dropped.
public final class LearnedState {
    public var loras: [String: LoRA]
    public var crma: CRMA?
    public var fisher: FisherMemory
    /// Each learned domain's routing centroid (``RoutingCentroid``), for the inference API's `model: "crma"`.
    public var routing: [String: [Float]]
    /// Each learned domain's routing examples: the embeddings of its first training prompts, `[n × hidden]`
    /// (``RoutingCentroid/examples(model:rows:)``), from which ``DomainRouter`` fits its classifier.
    public var routingExamples: [String: [Float]]

    public init(
        loras: [String: LoRA] = [:], crma: CRMA? = nil, fisher: FisherMemory = FisherMemory(), routing: [String: [Float]] = [:],
        routingExamples: [String: [Float]] = [:]
    ) {
        self.loras = loras
        self.crma = crma
        self.fisher = fisher
        self.routing = routing
        self.routingExamples = routingExamples
    }

    /// `other` with what an update of `domain` added to this state — its own LoRA and its routing — for
    /// a `strategy` whose updates train nothing else (``Strategy/rebasable``): the update as if it had been
    /// trained on `other`. Nil for any other strategy, or when this state has no LoRA for `domain`.
    public func rebased(onto other: LearnedState, domain: String, strategy: Strategy) -> LearnedState? {
        let name = AdapterRoles(strategy).loraName(for: domain)
        guard strategy.rebasable, let lora = loras[name] else { return nil }
        let rebased = other.copy()
        rebased.loras[name] = lora.frozenCopy()
        rebased.routing[domain] = routing[domain]
        rebased.routingExamples[domain] = routingExamples[domain]
        return rebased
    }

    /// The base model: no adapters.
    public static var empty: LearnedState { LearnedState() }

    /// An independent copy, nothing in it trainable.
    public func copy() -> LearnedState {
        LearnedState(
            loras: loras.mapValues { $0.frozenCopy() }, crma: crma?.copy(), fisher: fisher, routing: routing,
            routingExamples: routingExamples)
    }

    /// The adapters that score `domain`, learned with `strategy` (crma.md §6, ``AdapterRoles``).
    public func adapters(scoring domain: String, learnedWith strategy: Strategy) -> AdapterSet {
        AdapterRoles(strategy).scoring(domain, loras: loras, crma: crma)
    }

    /// What stays active without a domain id under `strategy`, for the general benchmarks.
    public func substrate(for strategy: Strategy) -> AdapterSet {
        AdapterRoles(strategy).substrate(loras: loras, crma: crma)
    }

    static let fisherPrefix = "ewc.fisher."
    static let anchorPrefix = "ewc.anchor."
    static let routingPrefix = "route.centroid."
    static let examplesPrefix = "route.examples."

    /// Writes the state as one adapter file (``AdapterFile``); EWC's memory rides along as
    /// `ewc.fisher.<parameter>` and `ewc.anchor.<parameter>` tensors, the routing centroids as
    /// `route.centroid.<domain>` and the routing examples as `route.examples.<domain>` (flat).
    public func save(to path: String) throws {
        var extra: [(name: String, values: [Float])] = []
        for name in fisher.fisher.keys.sorted() {
            extra.append((Self.fisherPrefix + name, fisher.fisher[name]!))
            if let a = fisher.anchor[name] { extra.append((Self.anchorPrefix + name, a)) }
        }
        for domain in routing.keys.sorted() { extra.append((Self.routingPrefix + domain, routing[domain]!)) }
        for domain in routingExamples.keys.sorted() {
            extra.append((Self.examplesPrefix + domain, routingExamples[domain]!))
        }
        try AdapterFile.save(loras: loras.keys.sorted().map { loras[$0]! }, crma: crma, extra: extra, to: path)
    }

    /// Reads a state written by ``save(to:)`` (or any adapter file) for `model`; nil path: the base model.
    public static func load(_ path: String?, model: LlamaModel) throws -> LearnedState {
        guard let path else { return .empty }
        let (loras, crma) = try AdapterFile.load(path, model: model)
        var memory = FisherMemory()
        for (name, values) in try AdapterFile.extraTensors(path, prefix: "ewc.") {
            if name.hasPrefix(fisherPrefix) { memory.fisher[String(name.dropFirst(fisherPrefix.count))] = values }
            if name.hasPrefix(anchorPrefix) { memory.anchor[String(name.dropFirst(anchorPrefix.count))] = values }
        }
        func byDomain(_ prefix: String) throws -> [String: [Float]] {
            Dictionary(
                uniqueKeysWithValues: try AdapterFile.extraTensors(path, prefix: prefix).map {
                    (String($0.key.dropFirst(prefix.count)), $0.value)
                })
        }
        return LearnedState(
            loras: Dictionary(loras.map { ($0.name, $0) }, uniquingKeysWith: { $1 }), crma: crma, fisher: memory,
            routing: try byDomain(routingPrefix), routingExamples: try byDomain(examplesPrefix))
    }
}
