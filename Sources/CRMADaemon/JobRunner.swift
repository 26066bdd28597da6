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
    /// The registry's identity (its directory under cluster.shared_dir).
    let instance: String
    /// Slurm's commands (cluster.engine = "slurm"), and the crmad executable its jobs run as workers.
    let slurm: SlurmClient
    let workerExecutable: String

    private let stopping = Atomic<Bool>(false)
    /// Jobs an operator cancelled while they trained. Its lock is also held while a cancel is decided and
    /// while a job leaves training (``cancel(job:)``, ``finishTraining(job:)``), so an accepted cancel always
    /// takes effect.
    private let cancels = Mutex<Set<Int64>>([])
    /// Slurm jobs crmad ran scancel for, and Slurm states it did not know (each said once).
    let scancelled = Mutex<Set<String>>([])
    let unknownStates = Mutex<Set<String>>([])
    /// The progress of every job in flight (one locally; up to cluster.max_parallel on Slurm), by job id.
    private let current = Mutex<[Int64: JobProgress]>([:])
    /// Wakes the idle thread (a job queued, stop); it waits on this and nothing else.
    private let signal = NSCondition()
    /// Set by ``wake()``, cleared by the thread before it waits.
    private let woken = Atomic<Bool>(false)

    init(
        config: DaemonConfig, registry: Registry, blobs: BlobStore, lm: LanguageModel, logger: Logger,
        events: EventHub, alerts: AlertSink, disk: DiskFullMonitor, general: GeneralBaseline,
        scheduler: ModelRequestScheduler, instance: String, workerExecutable: String,
        afterEachJob: @escaping @Sendable () -> Void = {}
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
        self.instance = instance
        self.workerExecutable = workerExecutable
        slurm = SlurmClient(partition: config.cluster.partition, extraArguments: config.cluster.sbatchArguments)
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
            if config.cluster.engine == .slurm {
                followClusterJobs()
                waitForWake(seconds: Self.clusterPollSeconds)
                continue
            }
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
            waitForWake(seconds: next.map { max(0.05, $0 - Date().timeIntervalSince1970) } ?? 5)
        }
    }

    /// Waits until woken (a job queued, a cancel, a stop) or at most `seconds` (never more than 5).
    func waitForWake(seconds: Double) {
        signal.lock()
        // A wake that came while the queue was read is not lost: it left `woken` set.
        if !isStopping && !woken.exchange(false, ordering: .relaxed) {
            _ = signal.wait(until: Date().addingTimeInterval(min(seconds, 5)))
        }
        signal.unlock()
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

    /// The oldest running job's progress, nil when idle.
    var progress: JobProgress? { running.first }

    /// Every running job's progress, oldest first.
    var running: [JobProgress] { current.withLock { $0.values.sorted { $0.id < $1.id } } }

    func setProgress(_ p: JobProgress) {
        current.withLock { $0[p.id] = p }
        if let d = try? JSONEncoder().encode(p) {
            events.publish(line: "{\"event\":\"progress\",\"job\":\(String(decoding: d, as: UTF8.self))}")
        }
    }

    /// Job `id` no longer runs (stopped, or reached a final state).
    func clearProgress(_ id: Int64) { _ = current.withLock { $0.removeValue(forKey: id) } }

    /// Cancels a queued job at once (returns `.cancelled`), or a training one at its next step boundary or
    /// when its training ends (returns `.training`). An evaluating job cannot be cancelled
    /// (``JobControlError/evaluating(_:)``): evaluation is not interruptible and concludes shortly.
    ///
    /// - Important: A cancel this accepts always takes effect: it decides under the lock of the pending
    ///   cancels, and a job leaves training only through ``finishTraining(job:)`` under the same lock.
    func cancel(job id: Int64) throws -> JobState {
        let (state, cluster) = try cancels.withLock { pending throws -> (JobState, ClusterJob?) in
            while true {
                guard let job = try registry.job(id) else { throw RegistryError.noSuchJob(id) }
                switch job.state {
                case .queued:
                    // Only while it is still queued; when the job runner started it meanwhile, look again.
                    if let t = try moveIfStill(id, .queued, .cancel, message: "cancelled by the operator") {
                        return (t.state, nil)
                    }
                case .training:
                    pending.insert(id)
                    return (.training, job.cluster)
                case .evaluating:
                    throw JobControlError.evaluating(id)
                case .accepted, .rolledBack, .failed, .cancelled:
                    throw JobControlError.alreadyFinished(id, job.state)
                }
            }
        }
        // A cluster job is stopped by Slurm (outside the lock: scancel may take a while); its end — CANCELLED,
        // or COMPLETED just before — concludes the cancel at the next poll. One not yet submitted is
        // cancelled there too.
        if let cluster { scancelOnce(cluster.id, job: id) }
        return state
    }

    /// Whether an operator's cancel of `id` is pending.
    func pendingCancel(_ id: Int64) -> Bool { cancels.withLock { $0.contains(id) } }

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
        let restarting = event == .rebase || event == .retrain
        return try registry.moveJob(id, from: state, to: t.state, message: message, restarting: restarting) ? t : nil
    }
}
