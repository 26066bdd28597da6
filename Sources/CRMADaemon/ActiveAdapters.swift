import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire

/// The active version's adapters, loaded once per version: the most recently learned domain's, as its
/// lineage's strategy scores it (its own LoRA, the shared one, or every LoRA for olora), with the substrate;
/// and each learned domain's the same way (the inference API's `crma:<domain>`).
/// An adapter file that cannot be loaded is an alert and an error, never the base model.
///
/// `@unchecked Sendable`: the cache is read and written only under the compute turn (``ModelRequestScheduler`` serves
/// model requests there), so it needs no lock.
final class ActiveAdapters: @unchecked Sendable {
    let registry: Registry
    let blobs: BlobStore
    let lm: LanguageModel
    let defaultStrategy: Strategy
    let alerts: AlertSink
    /// Text that belongs to no domain (the general benchmarks' documents), for the router's "no domain" class.
    let generalDocuments: [String]
    private struct Loaded {
        var version: Int64
        var record: VersionRecord?
        var state: LearnedState
        var sets: [String: AdapterSet] = [:]
        var router: DomainRouter?
    }
    private var cached: Loaded?
    /// The embeddings of `generalDocuments` (the base model's, so computed once).
    private var generalExamples: [Float]?

    init(
        registry: Registry, blobs: BlobStore, lm: LanguageModel, defaultStrategy: Strategy, alerts: AlertSink,
        generalDocuments: [String] = []
    ) {
        self.registry = registry
        self.blobs = blobs
        self.lm = lm
        self.defaultStrategy = defaultStrategy
        self.alerts = alerts
        self.generalDocuments = generalDocuments
    }

    /// The adapters of the version active now. - Important: call it under the compute turn only (the set it
    /// returns is mutable model state, used between training steps).
    func current() throws -> AdapterSet {
        let v = try load()
        return try adapters(for: v.record?.domain ?? "")
    }

    /// The domains the active version has learned, sorted.
    func domains() throws -> [String] { (try load().record?.references.keys).map { $0.sorted() } ?? [] }

    /// The router among the active version's domains (under the compute turn only: ModelRequestScheduler), built once per version: a
    /// classifier when every domain kept routing examples, else the centroid rule with `minimum`.
    func router(minimum: Float) throws -> DomainRouter {
        var v = try load()
        if let r = v.router, r.minimumSimilarity == minimum { return r }
        let learned = Set(try domains())
        if generalExamples == nil, v.state.routingExamples.keys.contains(where: learned.contains) {
            // The base model's embeddings of general text: computed once, only when a classifier can use them.
            generalExamples = RoutingCentroid.generalExamples(
                model: lm.model, tokenizer: lm.tokenizer, documents: generalDocuments)
        }
        let router = DomainRouter(
            learned: v.state, domains: learned, model: lm.model, general: generalExamples ?? [],
            minimumSimilarity: minimum)
        v.router = router
        cached = v
        return router
    }

    /// The active version's adapters for `domain` (under the compute turn only: ModelRequestScheduler); nil if it has not learned it.
    func adapters(forLearned domain: String) throws -> AdapterSet? {
        try domains().contains(domain) ? try adapters(for: domain) : nil
    }

    private func adapters(for domain: String) throws -> AdapterSet {
        var v = try load()
        if let set = v.sets[domain] { return set }
        let set =
            v.record.map { $0.adaptersHash == nil ? AdapterSet() : v.state.adapters(
                scoring: domain, learnedWith: $0.strategy(of: domain, default: defaultStrategy)) } ?? AdapterSet()
        v.sets[domain] = set
        cached = v
        return set
    }

    private func load() throws -> Loaded {
        let id = try registry.activeVersionID()
        if let c = cached, c.version == id { return c }
        var loaded = Loaded(version: id, record: nil, state: .empty)
        if let v = try registry.version(id) {
            loaded.record = v
            if let h = v.adaptersHash {
                do {
                    loaded.state = try LearnedState.load(blobs.path(h), model: lm.model)
                } catch {
                    alerts.raise(
                        .jobFailed, "the adapters of the active version \(id) cannot be loaded: \(error)", domain: v.domain,
                        version: id, fields: ["action": "refusing model requests; roll back to another version"])
                    throw ActiveVersionError(version: id, reason: "\(error)")
                }
            }
        }
        cached = loaded
        return loaded
    }
}

/// The active version's adapters cannot be loaded: model requests are refused until an operator rolls back.
public struct ActiveVersionError: Error, CustomStringConvertible {
    public var version: Int64
    public var reason: String
    public var description: String {
        "the adapters of active version \(version) cannot be loaded (\(reason)); roll back to another version (crmactl rollback)"
    }
}
