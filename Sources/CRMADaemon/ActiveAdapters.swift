import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire

/// The active version's adapters, loaded once per version: the most recently learned domain's, as its
/// lineage's strategy scores it (its own LoRA, the shared one, or every LoRA for olora), with the substrate.
/// An adapter file that cannot be loaded is an alert and an error, never the base model.
///
/// `@unchecked Sendable`: the cache is read and written only on the worker thread (``UpdateWorker`` serves
/// model requests there), so it needs no lock.
final class ActiveAdapters: @unchecked Sendable {
    let registry: Registry
    let blobs: BlobStore
    let lm: LanguageModel
    let defaultStrategy: Strategy
    let alerts: AlertSink
    private var cached: (version: Int64, set: AdapterSet)?

    init(registry: Registry, blobs: BlobStore, lm: LanguageModel, defaultStrategy: Strategy, alerts: AlertSink) {
        self.registry = registry
        self.blobs = blobs
        self.lm = lm
        self.defaultStrategy = defaultStrategy
        self.alerts = alerts
    }

    /// The adapters of the version active now. - Important: call it on the worker thread only (the set it
    /// returns is mutable model state, used between training steps).
    func current() throws -> AdapterSet {
        let id = try registry.activeVersionID()
        if let c = cached, c.version == id { return c.set }
        var set = AdapterSet()
        if let v = try registry.version(id), let h = v.adaptersHash {
            let state: LearnedState
            do {
                state = try LearnedState.load(blobs.path(h), model: lm.model)
            } catch {
                alerts.raise(
                    .jobFailed, "the adapters of the active version \(id) cannot be loaded: \(error)", domain: v.domain,
                    version: id, fields: ["action": "refusing model requests; roll back to another version"])
                throw ActiveVersionError(version: id, reason: "\(error)")
            }
            let domain = v.domain ?? ""
            set = state.adapters(scoring: domain, learnedWith: v.strategy(of: domain, default: defaultStrategy))
        }
        cached = (id, set)
        return set
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
