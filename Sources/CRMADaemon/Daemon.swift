import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMATraining
import CRMAWire
import Foundation
import Logging

/// crmad's engine: recovery at start-up, the inbox watcher, and the one worker thread that trains,
/// evaluates and promotes or rolls back. Long compute stays on that dedicated thread; the control API
/// reads SQLite and asks the worker for model work (generate, score) between training steps.
public final class Daemon: @unchecked Sendable {
    public let config: DaemonConfig
    public let registry: Registry
    public let blobs: BlobStore
    public let ingestor: Ingestor
    public let lm: LanguageModel
    public let logger: Logger
    let notifier = ServiceNotifier()
    let started = Date()

    /// Guards every mutable field below; the worker waits on it.
    let cond = NSCondition()
    var stopping = false
    var cancelRequested: Set<Int64> = []
    var progress: JobProgress?
    var tasks: [(LanguageModel, Result<AdapterSet, any Error>) -> Void] = []
    var subscribers: [UUID: AsyncStream<String>.Continuation] = [:]
    var lastError: String?
    var threadsDone = 0
    var threads: [Thread] = []
    var activeAdapters: (version: Int64, set: AdapterSet)?
    /// The general benchmarks every update is judged on (empty when none are configured).
    var general = GeneralSuite()
    /// Set while writes to the state directory fail for lack of space (reported once, cleared on success).
    var diskFull = false
    /// The worker does not retry a job before this time (after a disk-full failure).
    var retryAfter = Date.distantPast
    /// The base model's general benchmark scores (computed once, when first needed).
    var baseGeneral: [String: Double]?

    public init(config: DaemonConfig, lm: LanguageModel, logger: Logger) throws {
        self.config = config
        self.lm = lm
        self.logger = logger
        try FileManager.default.createDirectory(atPath: config.paths.stateDirectory, withIntermediateDirectories: true)
        registry = try Registry(path: "\(config.paths.stateDirectory)/crmad.sqlite")
        blobs = try BlobStore(root: "\(config.paths.stateDirectory)/blobs")
        ingestor = try Ingestor(inbox: config.paths.inbox, registry: registry, blobs: blobs, config: config.ingest)
        if !config.monitor.benchmarks.isEmpty {
            try config.checkFiles(configFile: "configuration")
            let m = config.monitor
            general = try GeneralSuite.load(
                m.benchmarks, documents: m.generalDocuments, probes: m.probeDocuments, tasks: Self.generalTasks,
                items: m.multipleChoiceItems)
        }
    }

    /// The multiple-choice tasks of the general suite (none of them is a task domain we train on).
    static let generalTasks = ["hellaswag", "piqa", "winogrande"]

    // MARK: lifecycle

    /// Recovers interrupted jobs, rescans the inbox and starts the watcher and the worker threads.
    public func start() throws {
        for job in try registry.interruptedJobs() {
            logger.notice(
                "recovering job \(job.id) (\(job.domain), \(job.state.rawValue) at step \(job.step)/\(job.totalSteps))")
            try registry.transition(job: job.id, .recover)
        }
        handle(ingestor.scan())
        let watcher = try InboxWatcher(inbox: config.paths.inbox)
        startThread("crmad-inbox") { [self] in watchLoop(watcher) }
        startThread("crmad-worker") { [self] in workLoop() }
    }

    /// Asks both threads to stop at their next boundary (the worker checkpoints) and waits for them.
    public func stop() {
        notifier.stopping()
        cond.lock()
        stopping = true
        cond.broadcast()
        while threadsDone < threads.count { cond.wait() }
        let open = Array(subscribers.values)
        subscribers = [:]
        cond.unlock()
        // Outside the lock: finishing a stream runs its onTermination, which takes the lock.
        for c in open { c.finish() }
        logger.notice("stopped")
    }

    func startThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let t = Thread { [self] in
            body()
            cond.lock()
            threadsDone += 1
            cond.broadcast()
            cond.unlock()
        }
        t.name = name
        t.stackSize = 16 << 20
        cond.lock()
        threads.append(t)
        cond.unlock()
        t.start()
    }

    var isStopping: Bool {
        cond.lock()
        defer { cond.unlock() }
        return stopping
    }

    // MARK: inbox

    func watchLoop(_ watcher: InboxWatcher) {
        var lastScan = Date()
        while !isStopping {
            let events = watcher.poll(timeout: 0.5)
            var outcomes: [Ingestor.Outcome] = []
            var rescan = false
            for e in events {
                switch e {
                case .file(let d, let n): outcomes.append(ingestor.ingest(domain: d, name: n))
                case .rescan: rescan = true
                }
            }
            // A periodic rescan picks up files deferred earlier (changed while read); every few seconds
            // while the disk is full, so stored files follow soon after space is freed.
            if rescan || Date().timeIntervalSince(lastScan) > (isDiskFull ? 2 : 60) {
                outcomes += ingestor.scan()
                lastScan = Date()
            }
            handle(outcomes)
        }
    }

    /// Turns ingest outcomes into jobs (debounced per domain) and alerts.
    func handle(_ outcomes: [Ingestor.Outcome]) {
        var touched = Set<String>()
        for o in outcomes {
            switch o {
            case .stored(let d, let f, let n):
                logger.info("ingested \(f): \(n) documents", metadata: ["domain": "\(d)", "file": "\(f)"])
                touched.insert(d)
                diskRecovered()
            case .notStored(let f, let reason):
                if stateDirectoryIsFull() {
                    reportDiskFull("cannot store \(f): \(reason)")
                } else {
                    record(error: "cannot store \(f): \(reason); it stays in the inbox and is tried again")
                }
            case .duplicate(let d, let f):
                logger.info("\(f) is already stored; removed from the inbox", metadata: ["domain": "\(d)"])
            case .rejected(let r):
                raise(
                    .ingestRejected, "rejected \(r.file): \(r.what). \(r.fix)",
                    domain: r.file.split(separator: "/").first.map(String.init), version: nil,
                    fields: ["file": r.file, "action": "moved to inbox/.rejected"])
            case .deferred: break
            }
        }
        for d in touched.sorted() {
            do {
                let id = try registry.enqueue(
                    domain: d, strategy: config.training.strategy.rawValue, totalSteps: config.training.steps,
                    notBefore: Date().timeIntervalSince1970 + config.ingest.debounceSeconds)
                publish(["event": "job_queued", "job": "\(id)", "domain": d])
            } catch {
                record(error: "cannot queue an update for \(d): \(error)")
            }
        }
        if !touched.isEmpty { wake() }
    }

    func wake() {
        cond.lock()
        cond.broadcast()
        cond.unlock()
    }

    // MARK: the worker

    /// Called once the control socket accepts connections: recovery is done, so systemd may call us ready.
    public func socketBound() {
        notifier.ready(status: summary())
    }

    func workLoop() {
        while true {
            cond.lock()
            if stopping {
                cond.unlock()
                return
            }
            let pending = tasks
            tasks = []
            cond.unlock()
            runTasks(pending)
            if let job = nextJob() {
                process(job)
                notifier.status(summary())
                continue
            }
            let wait = (try? registry.nextQueuedStart()).flatMap { $0 }.map { max(0.05, $0 - Date().timeIntervalSince1970) } ?? 5
            cond.lock()
            if !stopping && tasks.isEmpty { _ = cond.wait(until: Date().addingTimeInterval(min(wait, 5))) }
            cond.unlock()
        }
    }

    func nextJob() -> JobRecord? {
        if paused { return nil }
        cond.lock()
        let wait = retryAfter > Date()
        cond.unlock()
        if wait { return nil }
        do {
            if let j = try registry.interruptedJobs().first { return j }
            return try registry.nextReadyJob(now: Date().timeIntervalSince1970)
        } catch {
            record(error: "cannot read the job queue: \(error)")
            return nil
        }
    }

    public var paused: Bool { (try? registry.setting("paused")) == "1" }

    func runTasks(_ pending: [(LanguageModel, Result<AdapterSet, any Error>) -> Void]) {
        guard !pending.isEmpty else { return }
        let adapters = Result { try currentAdapters() }
        for t in pending { t(lm, adapters) }
    }

    /// The active version's adapters (cached per version): the most recently learned domain's, as its
    /// lineage's strategy scores it (its own LoRA, the shared one, or every LoRA for olora), with the
    /// substrate. An adapter file that cannot be loaded is an alert and an error, never the base model.
    func currentAdapters() throws -> AdapterSet {
        let id = try registry.activeVersionID()
        if let a = activeAdapters, a.version == id { return a.set }
        var set = AdapterSet()
        if let v = try registry.version(id), let h = v.adaptersHash {
            let state: LearnedState
            do {
                state = try LearnedState.load(blobs.path(h), model: lm.model)
            } catch {
                raise(
                    .jobFailed, "the adapters of the active version \(id) cannot be loaded: \(error)", domain: v.domain,
                    version: id, fields: ["action": "refusing model requests; roll back to another version"])
                throw ActiveVersionError(version: id, reason: "\(error)")
            }
            let domain = v.domain ?? ""
            let strategy = v.lineage[domain].flatMap { Strategy(rawValue: $0.strategy) } ?? config.training.strategy
            set = state.adapters(scoring: domain, learnedWith: strategy)
        }
        activeAdapters = (id, set)
        return set
    }

    /// Runs `body` on the worker thread with the model and the active adapters (between training steps).
    public func withModel<T: Sendable>(_ body: @escaping @Sendable (LanguageModel, AdapterSet) throws -> T) async throws
        -> T
    {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            cond.lock()
            tasks.append { lm, a in cont.resume(with: Result { try body(lm, try a.get()) }) }
            cond.broadcast()
            cond.unlock()
        }
    }

    // MARK: status, events, alerts

    func summary() -> String {
        let s = status()
        if let j = s.job { return "\(j.phase) \(j.domain) \(j.step)/\(j.totalSteps); version \(s.activeVersion)" }
        return "\(s.state); version \(s.activeVersion); \(s.domains) domains; \(s.queueDepth) queued"
    }

    public func status() -> DaemonStatus {
        cond.lock()
        let p = progress
        let err = lastError
        let stop = stopping
        cond.unlock()
        let isPaused = paused
        return DaemonStatus(
            state: stop ? "stopping" : p?.phase ?? (isPaused ? "paused" : "idle"), paused: isPaused,
            activeVersion: (try? registry.activeVersionID()) ?? 1, domains: (try? registry.domainNames().count) ?? 0,
            queueDepth: (try? registry.queueDepth()) ?? 0, job: p, model: lm.path,
            strategy: config.training.strategy.rawValue, uptimeSeconds: Date().timeIntervalSince(started),
            lastError: err)
    }

    /// Server-sent events: every progress update, job change and alert as one JSON object per line.
    public func subscribe() -> AsyncStream<String> {
        let (stream, cont) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let id = UUID()
        cond.lock()
        subscribers[id] = cont
        cond.unlock()
        cont.onTermination = { [weak self] _ in
            guard let self else { return }
            cond.lock()
            subscribers[id] = nil
            cond.unlock()
        }
        return stream
    }

    func publish(_ object: [String: String]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        publishJSON(String(decoding: data, as: UTF8.self))
    }

    func publishJSON(_ line: String) {
        cond.lock()
        let subs = Array(subscribers.values)
        cond.unlock()
        for s in subs { s.yield(line) }
    }

    var isDiskFull: Bool {
        cond.lock()
        defer { cond.unlock() }
        return diskFull
    }

    /// Whether the state directory's file system has (almost) no space left.
    func stateDirectoryIsFull() -> Bool {
        var s = statvfs()
        guard statvfs(config.paths.stateDirectory, &s) == 0 else { return false }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize) < 4 << 20
    }

    /// Disk full: one alert (journal; SQLite too if it can still write), the status says so, and jobs
    /// wait instead of failing. Nothing stored is changed; files stay in the inbox.
    func reportDiskFull(_ what: String) {
        cond.lock()
        let first = !diskFull
        diskFull = true
        lastError = "disk full: \(what). Free space in \(config.paths.stateDirectory); crmad continues by itself."
        retryAfter = Date().addingTimeInterval(5)
        cond.unlock()
        if first {
            raise(.diskFull, "the state directory \(config.paths.stateDirectory) is full: \(what)", domain: nil, version: nil,
                fields: ["action": "waiting for space; nothing changed"])
            notifier.status("disk full: waiting for space in \(config.paths.stateDirectory)")
        }
    }

    func diskRecovered() {
        cond.lock()
        let was = diskFull
        diskFull = false
        if was { lastError = nil }
        cond.unlock()
        if was { logger.notice("space is available again in \(config.paths.stateDirectory); continuing") }
    }

    func record(error: String) {
        logger.error("\(error)")
        cond.lock()
        lastError = error
        cond.unlock()
    }

    /// An alert: journald (structured, with MESSAGE_ID) and SQLite (for `crmactl alerts`).
    func raise(_ kind: AlertKind, _ message: String, domain: String?, version: Int64?, fields: [String: String] = [:]) {
        var meta: Logger.Metadata = ["MESSAGE_ID": "\(kind.messageID)", "alert": "\(kind.rawValue)"]
        if let domain { meta["domain"] = "\(domain)" }
        if let version { meta["version"] = "\(version)" }
        for (k, v) in fields { meta[k] = "\(v)" }
        let level: Logger.Level =
            switch kind.priority {
            case 2: .critical
            case 3: .error
            case 4: .warning
            default: .notice
            }
        logger.log(level: level, "\(message)", metadata: meta)
        var stored = fields
        stored["message_id"] = kind.messageID
        _ = try? registry.addAlert(
            AlertRecord(
                id: 0, time: Date().timeIntervalSince1970, kind: kind.rawValue, priority: kind.priority, message: message,
                domain: domain, version: version, fields: stored))
        publish(["event": "alert", "kind": kind.rawValue, "message": message])
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
