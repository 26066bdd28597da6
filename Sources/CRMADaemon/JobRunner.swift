import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the update jobs: one dedicated thread takes the next job and runs it through the update pipeline,
/// applying ``JobMachine`` and performing its actions (`JobRunner+Actions.swift`). While a job runs it holds
/// the compute turn and serves the control API's waiting model requests at every step boundary
/// (``ModelRequestScheduler``). Long compute never runs in Swift tasks (docs/architecture.md). A `Service`
/// of crmad's group: it stops at the next step boundary on a graceful shutdown (a training job checkpoints).
final class JobRunner: Service, Sendable {
    let config: DaemonConfig
    let registry: Registry
    let blobs: BlobStore
    let lm: LanguageModel
    let logger: Logger
    let events: EventHub
    let alerts: AlertSink
    let disk: DiskFullMonitor
    let general: GeneralBaseline
    let scheduler: ModelRequestScheduler
    /// Runs on the thread whenever a job stopped or concluded (crmad: sd_notify STATUS).
    let afterEachJob: @Sendable () -> Void

    private let stopping = Atomic<Bool>(false)
    /// Jobs an operator cancelled while they trained. Its lock is also held while a cancel is decided and
    /// while a job leaves training (``cancel(job:)``, ``finishTraining(job:)``), so an accepted cancel always
    /// takes effect.
    private let cancels = Mutex<Set<Int64>>([])
    private let current = Mutex<JobProgress?>(nil)
    /// Wakes the idle thread (a job queued, stop); it waits on this and nothing else.
    private let signal = NSCondition()
    /// Set by ``wake()``, cleared by the thread before it waits.
    private let woken = Atomic<Bool>(false)

    init(
        config: DaemonConfig, registry: Registry, blobs: BlobStore, lm: LanguageModel, logger: Logger,
        events: EventHub, alerts: AlertSink, disk: DiskFullMonitor, general: GeneralBaseline,
        scheduler: ModelRequestScheduler, afterEachJob: @escaping @Sendable () -> Void = {}
    ) {
        self.config = config
        self.registry = registry
        self.blobs = blobs
        self.lm = lm
        self.logger = logger
        self.events = events
        self.alerts = alerts
        self.disk = disk
        self.general = general
        self.scheduler = scheduler
        self.afterEachJob = afterEachJob
    }

    // MARK: the thread

    /// Runs jobs on a dedicated thread until a graceful shutdown, then stops at the next step boundary.
    func run() async throws {
        try await DedicatedThread.run("crmad-worker", { [self] in loop() }, stop: { [self] in
            stopping.store(true, ordering: .relaxed)
            wake()
        })
    }

    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Makes the idle thread look at the queue again.
    func wake() {
        woken.store(true, ordering: .relaxed)
        signal.lock()
        signal.broadcast()
        signal.unlock()
    }

    private func loop() {
        while !isStopping {
            // The job is chosen holding the compute turn, so a cancel, a pause or a stop that arrives while
            // a model request computes is seen before the job starts.
            let ran = scheduler.withComputeTurn { () -> Bool in
                guard !isStopping, let job = nextJob() else { return false }
                run(job)
                return true
            }
            if ran {
                afterEachJob()
                continue
            }
            let next = (try? registry.nextQueuedStart()).flatMap { $0 }
            let wait = next.map { max(0.05, $0 - Date().timeIntervalSince1970) } ?? 5
            signal.lock()
            // A wake that came while the queue was read is not lost: it left `woken` set.
            if !isStopping && !woken.exchange(false, ordering: .relaxed) {
                _ = signal.wait(until: Date().addingTimeInterval(min(wait, 5)))
            }
            signal.unlock()
        }
    }

    /// An interrupted job first, then the oldest queued one whose debounce passed; none while the queue is
    /// paused or shortly after a disk-full failure.
    private func nextJob() -> JobRecord? {
        if (try? registry.setting("paused")) == "1" || !disk.jobsMayRun { return nil }
        do {
            if let j = try registry.interruptedJobs().first { return j }
            return try registry.nextReadyJob(now: Date().timeIntervalSince1970)
        } catch {
            alerts.record(error: "cannot read the job queue: \(error)")
            return nil
        }
    }

    /// At a step boundary: serve waiting model requests, then tell whether training must stop.
    func atStepBoundary(job: Int64) -> Bool {
        scheduler.serveWaiting()
        return isStopping || cancels.withLock { $0.contains(job) }
    }

    // MARK: progress and cancel

    /// The running job's progress, nil when idle.
    var progress: JobProgress? { current.withLock { $0 } }

    func setProgress(_ p: JobProgress?) {
        current.withLock { $0 = p }
        if let p, let d = try? JSONEncoder().encode(p) {
            events.publish(line: "{\"event\":\"progress\",\"job\":\(String(decoding: d, as: UTF8.self))}")
        }
    }

    /// Cancels a queued job at once (returns `.cancelled`), or a training one at its next step boundary or
    /// when its training ends (returns `.training`). An evaluating job cannot be cancelled
    /// (``JobControlError/evaluating(_:)``): evaluation is not interruptible and concludes shortly.
    ///
    /// - Important: A cancel this accepts always takes effect: it decides under the lock of the pending
    ///   cancels, and a job leaves training only through ``finishTraining(job:)`` under the same lock.
    func cancel(job id: Int64) throws -> JobState {
        try cancels.withLock { pending throws -> JobState in
            while true {
                guard let job = try registry.job(id) else { throw RegistryError.noSuchJob(id) }
                switch job.state {
                case .queued:
                    // Only while it is still queued; when the job runner started it meanwhile, look again.
                    if let t = try moveIfStill(id, .queued, .cancel, message: "cancelled by the operator") {
                        return t.state
                    }
                case .training:
                    pending.insert(id)
                    return .training
                case .evaluating:
                    throw JobControlError.evaluating(id)
                case .accepted, .rolledBack, .failed, .cancelled:
                    throw JobControlError.alreadyFinished(id, job.state)
                }
            }
        }
    }

    /// Whether an operator's cancel of `id` was pending (and forgets it).
    func cancelRequestedAndClear(_ id: Int64) -> Bool { cancels.withLock { $0.remove(id) != nil } }

    /// Applies `.trained` to a job whose training ended — or `.cancel` when a cancel was accepted while it
    /// trained (after its last step included) — and returns the transition.
    func finishTraining(job id: Int64) throws -> JobTransition {
        try cancels.withLock { pending throws -> JobTransition in
            let cancelled = pending.remove(id) != nil
            return try move(
                id, .training, cancelled ? .cancel : .trained,
                message: cancelled ? "cancelled by the operator after its training" : nil)
        }
    }

    /// Applies `event` to a job in `state` (``JobMachine``) and stores the move; throws when the event is
    /// invalid there or the job is no longer in `state`.
    func move(_ id: Int64, _ state: JobState, _ event: JobEvent, message: String? = nil) throws -> JobTransition {
        guard let t = try moveIfStill(id, state, event, message: message) else {
            throw JobControlError.movedMeanwhile(id, expected: state)
        }
        return t
    }

    /// ``move(_:_:_:message:)``, or nil (nothing changed) when the job is no longer in `state`.
    func moveIfStill(_ id: Int64, _ state: JobState, _ event: JobEvent, message: String? = nil) throws
        -> JobTransition?
    {
        try Self.moveIfStill(id, state, event, message: message, in: registry)
    }

    /// How a job moves: ``JobMachine`` decides from `state` and `event`, `registry` stores the move if the job
    /// is still in `state` (nil otherwise, nothing changed).
    static func moveIfStill(
        _ id: Int64, _ state: JobState, _ event: JobEvent, message: String? = nil, in registry: Registry
    ) throws -> JobTransition? {
        let t = try JobMachine.apply(event, to: state).get()
        return try registry.moveJob(id, from: state, to: t.state, message: message) ? t : nil
    }
}
