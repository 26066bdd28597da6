import CRMAContinual
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The inbox: watches it (inotify, with a periodic rescan), ingests what arrives (``Ingestor``: validate,
/// store, record) and turns the outcomes into queued jobs, debounced per domain, and alerts. Runs on its
/// own thread, since `InboxWatcher.poll` blocks. A `Service` of crmad's group, the last of the daemon's parts
/// to stop: stopping, it ends the event streams so the control server's connections close.
final class InboxService: Service, Sendable {
    let config: DaemonConfig
    let registry: Registry
    let ingestor: Ingestor
    let logger: Logger
    let events: EventHub
    let alerts: AlertSink
    let disk: DiskFullMonitor
    /// Called when a job was queued, so the job runner looks at the queue.
    let jobsQueued: @Sendable () -> Void
    private let stopping = Atomic<Bool>(false)
    private let watcher = Mutex<InboxWatcher?>(nil)

    init(
        config: DaemonConfig, registry: Registry, ingestor: Ingestor, logger: Logger, events: EventHub,
        alerts: AlertSink, disk: DiskFullMonitor, jobsQueued: @escaping @Sendable () -> Void
    ) {
        self.config = config
        self.registry = registry
        self.ingestor = ingestor
        self.logger = logger
        self.events = events
        self.alerts = alerts
        self.disk = disk
        self.jobsQueued = jobsQueued
    }

    /// Ingests everything already in the inbox, then opens the watch (start-up recovery).
    func scanAndWatch() throws {
        handle(ingestor.scan())
        let w = try InboxWatcher(inbox: config.paths.inbox)
        watcher.withLock { $0 = w }
    }

    /// Reads the watch opened by ``scanAndWatch()`` on a dedicated thread until a graceful shutdown (then
    /// within half a second), and ends the event streams.
    func run() async throws {
        try await DedicatedThread.run(
            "crmad-inbox",
            { [self] in
                if let w = watcher.withLock({ $0 }) { watch(w) }
            }, stop: { [self] in stopping.store(true, ordering: .relaxed) })
        events.close()
        logger.notice("stopped")
    }

    private func watch(_ watcher: InboxWatcher) {
        var lastScan = Date()
        while !stopping.load(ordering: .relaxed) {
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
            if rescan || Date().timeIntervalSince(lastScan) > (disk.isFull ? 2 : 60) {
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
                disk.recovered()
            case .notStored(let f, let reason):
                if disk.stateDirectoryIsFull() {
                    disk.report("cannot store \(f): \(reason)")
                } else {
                    alerts.record(error: "cannot store \(f): \(reason); it stays in the inbox and is tried again")
                }
            case .duplicate(let d, let f):
                logger.info("\(f) is already stored; removed from the inbox", metadata: ["domain": "\(d)"])
            case .rejected(let r):
                alerts.raise(
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
                events.publish(["event": "job_queued", "job": "\(id)", "domain": d])
            } catch {
                alerts.record(error: "cannot queue an update for \(d): \(error)")
            }
        }
        if !touched.isEmpty { jobsQueued() }
    }
}
