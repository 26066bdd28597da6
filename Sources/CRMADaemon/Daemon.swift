import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// crmad's parts, composed over one registry and blob store: the inbox (``InboxService``), the job runner
/// (``JobRunner``), the model-request scheduler (``ModelRequestScheduler``), the event stream (``EventHub``)
/// and the alerts (``AlertSink``). crmad runs ``services`` in its `ServiceGroup` after ``recover()``, and so do
/// the tests: there is one lifecycle. The control API reaches the daemon through the requests below.
public final class Daemon: Sendable {
    public let config: DaemonConfig
    let registry: Registry
    let blobs: BlobStore
    let ingestor: Ingestor
    let lm: LanguageModel
    let logger: Logger
    let notifier = ServiceNotifier()
    public let started = Date()
    let events = EventHub()
    let alerts: AlertSink
    let inbox: InboxService
    let runner: JobRunner
    let scheduler: ModelRequestScheduler
    /// The model's token bytes for constrained decoding (``TokenByteTable``), built at the first request for
    /// JSON and kept.
    private let tokenByteTable = Mutex<TokenByteTable?>(nil)

    /// `workerExecutable`: the crmad binary a Slurm job runs as `crmad worker DIR` (this process's own by
    /// default; every node must have it at that path).
    public init(
        config: DaemonConfig, lm: LanguageModel, logger: Logger, workerExecutable: String = Daemon.ownExecutable
    ) throws {
        self.config = config
        self.lm = lm
        self.logger = logger
        try FileManager.default.createDirectory(atPath: config.paths.stateDirectory, withIntermediateDirectories: true)
        registry = try Registry(path: "\(config.paths.stateDirectory)/crmad.sqlite")
        blobs = try BlobStore(root: "\(config.paths.stateDirectory)/blobs")
        ingestor = try Ingestor(inbox: config.paths.inbox, registry: registry, blobs: blobs, config: config.ingest)
        alerts = AlertSink(logger: logger, registry: registry, events: events)
        let disk = DiskFullMonitor(stateDirectory: config.paths.stateDirectory, alerts: alerts, notifier: notifier)
        let general = try GeneralBaseline(config: config)
        scheduler = ModelRequestScheduler(
            lm: lm,
            adapters: ActiveAdapters(
                registry: registry, blobs: blobs, lm: lm, defaultStrategy: config.training.strategy, alerts: alerts,
                generalDocuments: general.suite.documents),
            capacity: config.control.maxQueuedRequests, deadline: config.control.requestDeadlineSeconds)
        let status = StatusLine()
        let runner = JobRunner(
            config: config, registry: registry, blobs: blobs, lm: lm, logger: logger, events: events, alerts: alerts,
            disk: disk, general: general, scheduler: scheduler, instance: try registry.instance(),
            workerExecutable: workerExecutable, afterEachJob: { status.send() })
        self.runner = runner
        inbox = InboxService(
            config: config, registry: registry, ingestor: ingestor, logger: logger, events: events, alerts: alerts,
            disk: disk, jobsQueued: { runner.wake() })
        status.daemon = self
    }

    func tokenBytes() -> TokenByteTable {
        tokenByteTable.withLock { table in
            if let table { return table }
            let built = TokenByteTable(lm.tokenizer)
            table = built
            return built
        }
    }

    /// This process's executable (crmad itself, when crmad runs).
    public static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    // MARK: lifecycle

    /// The daemon's services in start order (a `ServiceGroup` stops them in reverse): the model-request
    /// scheduler, the inbox, then the job runner — so on shutdown the runner stops first (at its next step
    /// boundary, checkpointing), then the inbox, which ends the event streams, then the scheduler.
    public var services: [any Service] { [scheduler, inbox, runner] }

    /// Start-up recovery, before ``services`` run and the control socket reports ready: says which
    /// interrupted jobs the runner will resume, ingests what is already in the inbox, and opens its watch.
    public func recover() throws {
        for job in try registry.interruptedJobs() {
            let following = job.cluster.map { ", following Slurm job \($0.id)" } ?? ""
            logger.notice(
                "recovering job \(job.id) (\(job.domain), \(job.state.rawValue) at step \(job.step)/\(job.totalSteps))\(following)")
        }
        try inbox.scanAndWatch()
    }

    /// Called once the control socket accepts connections: recovery is done, so systemd may call us ready.
    public func socketBound() {
        notifier.ready(status: summary())
    }

    // MARK: the control API's requests

    public var paused: Bool { (try? registry.setting("paused")) == "1" }

    /// The loss of `text` under the active version's adapters (its first 1,024 tokens), scheduled between
    /// training steps; nil when the text has fewer than two tokens.
    public func score(_ text: String) async throws -> ScoreResponse? {
        try await scheduler.withModels { lm, adapters in
            ModelQueries.score(lm, adapters: try adapters.current(), text: text, maxTokens: 1024)
        }
    }

    /// Version `request.version`'s adapters as files (``VersionExport``), loaded under the compute turn between
    /// training steps, whatever version is active. Throws ``RegistryError/noSuchVersion(_:)`` or
    /// ``VersionExport/Failure``.
    public func export(_ request: ExportRequest) async throws -> ExportResponse {
        guard let v = try registry.version(request.version) else { throw RegistryError.noSuchVersion(request.version) }
        let blobs = self.blobs, strategy = config.training.strategy, base = config.model.path
        // Needs the model but not the active adapters: an active version whose adapters cannot be loaded
        // does not refuse the export of another.
        return try await scheduler.withModels { lm, _ in
            try VersionExport.response(
                request, version: v, defaultStrategy: strategy, baseModel: base, config: lm.model.config,
                state: { try LearnedState.load(v.adaptersHash.map(blobs.path), model: lm.model) },
                blob: { try blobs.get(v.adaptersHash ?? "") })
        }
    }

    /// Server-sent events: every progress update, job change and alert as one JSON object per line.
    public func subscribe() -> AsyncStream<String> { events.subscribe() }

    public func status() -> DaemonStatus {
        let running = runner.running
        let p = running.first
        let isPaused = paused
        return DaemonStatus(
            state: runner.isStopping ? "stopping" : p?.phase ?? (isPaused ? "paused" : "idle"), paused: isPaused,
            activeVersion: (try? registry.activeVersionID()) ?? 1, domains: (try? registry.domainNames().count) ?? 0,
            queueDepth: (try? registry.queueDepth()) ?? 0, job: p, model: lm.path,
            strategy: config.training.strategy.rawValue, uptimeSeconds: Date().timeIntervalSince(started),
            lastError: alerts.lastError, jobs: running.count > 1 ? running : nil)
    }

    func summary() -> String {
        let s = status()
        if let j = s.job { return "\(j.phase) \(j.domain) \(j.step)/\(j.totalSteps); version \(s.activeVersion)" }
        return "\(s.state); version \(s.activeVersion); \(s.domains) domains; \(s.queueDepth) queued"
    }

    public func pause() throws {
        try registry.setSetting("paused", "1")
        logger.notice("queue paused")
        runner.wake()
    }

    public func resume() throws {
        try registry.setSetting("paused", "0")
        logger.notice("queue resumed")
        runner.wake()
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
    /// when its training ends (returns `.training`); an evaluating job is refused (``JobRunner/cancel(job:)``).
    public func cancel(job id: Int64) throws -> JobState { try runner.cancel(job: id) }

    /// Queues another update of `domain` with `strategy`.
    public func retry(domain: String, strategy: Strategy) throws -> Int64 {
        guard try registry.domainNames().contains(domain) else { throw JobControlError.noSuchDomain(domain) }
        let id = try registry.enqueue(
            domain: domain, strategy: strategy.rawValue, totalSteps: config.training.steps,
            notBefore: Date().timeIntervalSince1970)
        runner.wake()
        return id
    }

    /// What the pipeline would be given for `job` on `parent` (``JobRunner/updateInputs(job:parent:strategy:)``).
    func updateInputs(job: JobRecord, parent: VersionRecord, strategy: Strategy) throws -> UpdateInputs {
        try runner.updateInputs(job: job, parent: parent, strategy: strategy)
    }

    // MARK: reads

    public func domains() throws -> [DomainRecord] { try registry.domains() }
    public func versions() throws -> [VersionRecord] { try registry.versions() }
    public func version(_ id: Int64) throws -> VersionRecord? { try registry.version(id) }
    public func alerts(limit: Int) throws -> [AlertRecord] { try registry.alerts(limit: limit) }
    public func jobs(limit: Int) throws -> [JobRecord] { try registry.jobs(limit: limit) }

    /// Files the inbox refused (waiting in `inbox/.rejected` with their explanations).
    public func rejectedFileCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: ingestor.rejectedDirectory)) ?? [])
            .filter { !$0.hasSuffix(".error.json") }.count
    }

    /// The inference API's plans, with this daemon's tokenizer, chat template and limits.
    public func plan(_ r: ChatCompletionRequest) throws -> InferencePlan {
        try InferencePlan.chat(
            r, tokenizer: lm.tokenizer, generator: Generator(lm), maxTokensLimit: config.control.maxCompletionTokens,
            contextLength: lm.model.config.contextLength)
    }

    public func plan(_ r: CompletionRequest) throws -> [InferencePlan] {
        try InferencePlan.completions(
            r, tokenizer: lm.tokenizer, maxTokensLimit: config.control.maxCompletionTokens,
            contextLength: lm.model.config.contextLength)
    }
}

/// sd_notify STATUS after every job: the daemon's one-line summary. Set once, after the daemon is built.
private final class StatusLine: @unchecked Sendable {
    // Written once in Daemon.init before any service runs, read only afterwards.
    weak var daemon: Daemon?

    func send() {
        guard let d = daemon else { return }
        d.notifier.status(d.summary())
    }
}
