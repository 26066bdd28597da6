import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation
import Logging

/// crmad's parts, composed: the inbox (``InboxService``), the update worker (``UpdateWorker``), the event
/// stream (``EventHub``) and the alerts (``AlertSink``) over one registry and blob store. The control API and
/// the tests reach the daemon through it; each part runs and stops on its own (crmad's `ServiceGroup`).
public final class Daemon: Sendable {
    public let config: DaemonConfig
    public let registry: Registry
    public let blobs: BlobStore
    public let ingestor: Ingestor
    public let lm: LanguageModel
    public let logger: Logger
    let notifier = ServiceNotifier()
    public let started = Date()
    let events = EventHub()
    let alerts: AlertSink
    let inbox: InboxService
    let worker: UpdateWorker

    public init(config: DaemonConfig, lm: LanguageModel, logger: Logger) throws {
        self.config = config
        self.lm = lm
        self.logger = logger
        try FileManager.default.createDirectory(atPath: config.paths.stateDirectory, withIntermediateDirectories: true)
        registry = try Registry(path: "\(config.paths.stateDirectory)/crmad.sqlite")
        blobs = try BlobStore(root: "\(config.paths.stateDirectory)/blobs")
        ingestor = try Ingestor(inbox: config.paths.inbox, registry: registry, blobs: blobs, config: config.ingest)
        alerts = AlertSink(logger: logger, registry: registry, events: events)
        let disk = DiskFullMonitor(stateDirectory: config.paths.stateDirectory, alerts: alerts, notifier: notifier)
        let worker = UpdateWorker(
            config: config, registry: registry, blobs: blobs, lm: lm, logger: logger, events: events, alerts: alerts,
            disk: disk, notifier: notifier, general: try GeneralBaseline(config: config))
        self.worker = worker
        inbox = InboxService(
            config: config, registry: registry, ingestor: ingestor, logger: logger, events: events, alerts: alerts,
            disk: disk, jobsQueued: { worker.wake() })
    }

    // MARK: lifecycle

    /// Recovery, then the inbox and the worker (what crmad's `ServiceGroup` does, for in-process use).
    public func start() throws {
        try recover()
        startInbox()
        startWorker()
    }

    /// Stops the worker at its next step boundary (it checkpoints), then the inbox, and ends the event streams.
    public func stop() {
        notifier.stopping()
        stopWorker()
        stopInbox()
    }

    /// Start-up recovery (before the control socket reports ready): says which interrupted jobs the worker
    /// will resume, ingests what is already in the inbox, and opens the inbox watch.
    public func recover() throws {
        for job in try registry.interruptedJobs() {
            logger.notice(
                "recovering job \(job.id) (\(job.domain), \(job.state.rawValue) at step \(job.step)/\(job.totalSteps))")
        }
        try inbox.scanAndWatch()
    }

    /// Starts watching the inbox on its thread (after ``recover()``).
    public func startInbox() { inbox.start() }

    /// Stops watching the inbox (within half a second) and, as the last part to stop, ends the event streams
    /// so the control server's connections close.
    public func stopInbox() {
        inbox.stop()
        events.close()
        logger.notice("stopped")
    }

    /// Starts the update worker's thread.
    public func startWorker() { worker.start { [self] in notifier.status(summary()) } }

    /// Stops the worker at its next step boundary (a training job checkpoints) and waits for it.
    public func stopWorker() { worker.stop() }

    /// Called once the control socket accepts connections: recovery is done, so systemd may call us ready.
    public func socketBound() {
        notifier.ready(status: summary())
    }

    // MARK: the control API's requests

    public var paused: Bool { (try? registry.setting("paused")) == "1" }

    /// Runs `body` on the worker thread with the model and the active adapters (between training steps).
    public func withModel<T: Sendable>(_ body: @escaping @Sendable (LanguageModel, AdapterSet) throws -> T) async throws
        -> T
    {
        try await worker.withModels { lm, adapters in try body(lm, try adapters.current()) }
    }

    /// Version `request.version`'s adapters as files (``VersionExport``), loaded on the worker thread between
    /// training steps, whatever version is active. Throws ``RegistryError/noSuchVersion(_:)`` or
    /// ``VersionExport/Failure``.
    public func export(_ request: ExportRequest) async throws -> ExportResponse {
        guard let v = try registry.version(request.version) else { throw RegistryError.noSuchVersion(request.version) }
        let blobs = self.blobs, strategy = config.training.strategy, base = config.model.path
        // Needs the model but not the active adapters: an active version whose adapters cannot be loaded
        // does not refuse the export of another.
        return try await worker.withModels { lm, _ in
            try VersionExport.response(
                request, version: v, defaultStrategy: strategy, baseModel: base, config: lm.model.config,
                state: { try LearnedState.load(v.adaptersHash.map(blobs.path), model: lm.model) },
                blob: { try blobs.get(v.adaptersHash ?? "") })
        }
    }

    /// Server-sent events: every progress update, job change and alert as one JSON object per line.
    public func subscribe() -> AsyncStream<String> { events.subscribe() }

    public func status() -> DaemonStatus {
        let p = worker.progress
        let isPaused = paused
        return DaemonStatus(
            state: worker.isStopping ? "stopping" : p?.phase ?? (isPaused ? "paused" : "idle"), paused: isPaused,
            activeVersion: (try? registry.activeVersionID()) ?? 1, domains: (try? registry.domainNames().count) ?? 0,
            queueDepth: (try? registry.queueDepth()) ?? 0, job: p, model: lm.path,
            strategy: config.training.strategy.rawValue, uptimeSeconds: Date().timeIntervalSince(started),
            lastError: alerts.lastError)
    }

    func summary() -> String {
        let s = status()
        if let j = s.job { return "\(j.phase) \(j.domain) \(j.step)/\(j.totalSteps); version \(s.activeVersion)" }
        return "\(s.state); version \(s.activeVersion); \(s.domains) domains; \(s.queueDepth) queued"
    }

    public func pause() throws {
        try registry.setSetting("paused", "1")
        logger.notice("queue paused")
        worker.wake()
    }

    public func resume() throws {
        try registry.setSetting("paused", "0")
        logger.notice("queue resumed")
        worker.wake()
    }

    /// Makes an earlier accepted version active again.
    public func rollback(to version: Int64) throws {
        let before = try registry.activeVersionID()
        try registry.activate(version: version)
        alerts.raise(
            .rollback, "operator rolled back from version \(before) to version \(version)", domain: nil,
            version: version, fields: ["action": "manual rollback"])
    }

    /// Cancels a queued job at once (returns `.cancelled`), or a training one at its next step boundary or
    /// when its training ends (returns `.training`); an evaluating job is refused (``UpdateWorker/cancel(job:)``).
    public func cancel(job id: Int64) throws -> JobState { try worker.cancel(job: id) }

    /// Queues another update of `domain` with `strategy`.
    public func retry(domain: String, strategy: Strategy) throws -> Int64 {
        guard try registry.domainNames().contains(domain) else { throw JobControlError.noSuchDomain(domain) }
        let id = try registry.enqueue(
            domain: domain, strategy: strategy.rawValue, totalSteps: config.training.steps,
            notBefore: Date().timeIntervalSince1970)
        worker.wake()
        return id
    }

    /// What the pipeline would be given for `job` on `parent` (``UpdateWorker/updateInputs(job:parent:strategy:)``).
    func updateInputs(job: JobRecord, parent: VersionRecord, strategy: Strategy) throws -> UpdateInputs {
        try worker.updateInputs(job: job, parent: parent, strategy: strategy)
    }
}
