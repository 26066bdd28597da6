import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation
import Logging
import Synchronization

/// The update worker: one dedicated thread that takes the next job and runs it through the update pipeline
/// (``JobMachine``'s actions, performed in `UpdateWorker+JobActions.swift`), and serves the control API's
/// model requests between training steps. Long compute never runs in Swift tasks (engineering-notes.md);
/// async callers reach the thread through ``withModel(_:)``'s continuation.
final class UpdateWorker: Sendable {
    let config: DaemonConfig
    let registry: Registry
    let blobs: BlobStore
    let lm: LanguageModel
    let logger: Logger
    let events: EventHub
    let alerts: AlertSink
    let disk: DiskFullMonitor
    let notifier: ServiceNotifier
    let general: GeneralBaseline
    let adapters: ActiveAdapters
    let requests: ModelRequestQueue

    private let stopping = Atomic<Bool>(false)
    /// Jobs an operator cancelled while they trained. Its lock is also held while a cancel is decided and
    /// while a job leaves training (``cancel(job:)``, ``finishTraining(job:)``), so an accepted cancel always
    /// takes effect.
    private let cancels = Mutex<Set<Int64>>([])
    private let current = Mutex<JobProgress?>(nil)
    /// Wakes the idle thread (a job queued, a model request, stop); it waits on this and nothing else.
    private let signal = NSCondition()
    private let thread = Mutex<DedicatedThread?>(nil)
    private let afterJob = Mutex<(@Sendable () -> Void)?>(nil)

    init(
        config: DaemonConfig, registry: Registry, blobs: BlobStore, lm: LanguageModel, logger: Logger,
        events: EventHub, alerts: AlertSink, disk: DiskFullMonitor, notifier: ServiceNotifier, general: GeneralBaseline
    ) {
        self.config = config
        self.registry = registry
        self.blobs = blobs
        self.lm = lm
        self.logger = logger
        self.events = events
        self.alerts = alerts
        self.disk = disk
        self.notifier = notifier
        self.general = general
        requests = ModelRequestQueue(
            capacity: config.control.maxQueuedRequests, deadline: config.control.requestDeadlineSeconds)
        adapters = ActiveAdapters(
            registry: registry, blobs: blobs, lm: lm, defaultStrategy: config.training.strategy, alerts: alerts,
            generalDocuments: general.suite.documents)
    }

    // MARK: the thread

    /// Starts the thread; `afterEachJob` runs on it whenever a job stopped or concluded.
    func start(afterEachJob: @escaping @Sendable () -> Void) {
        afterJob.withLock { $0 = afterEachJob }
        thread.withLock { $0 = DedicatedThread("crmad-worker") { [self] in loop() } }
    }

    /// Asks the thread to stop at its next step boundary (a training job checkpoints) and waits for it.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        wake()
        thread.withLock { $0 }?.join()
    }

    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Makes the idle thread look at the queue and the model requests again.
    func wake() {
        signal.lock()
        signal.broadcast()
        signal.unlock()
    }

    private func loop() {
        while !isStopping {
            serveModelRequests()
            if let job = nextJob() {
                run(job)
                afterJob.withLock { $0 }?()
                continue
            }
            let next = (try? registry.nextQueuedStart()).flatMap { $0 }
            let wait = next.map { max(0.05, $0 - Date().timeIntervalSince1970) } ?? 5
            signal.lock()
            if !isStopping && requests.isEmpty { _ = signal.wait(until: Date().addingTimeInterval(min(wait, 5))) }
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

    // MARK: model requests

    /// Runs `body` on the worker thread with the model and the active version's adapters (between training
    /// steps). Throws ``ModelQueueError`` when too many requests wait or this one waited too long.
    func withModels<T: Sendable>(_ body: @escaping @Sendable (LanguageModel, ActiveAdapters) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            do {
                try requests.append({ lm, a in cont.resume(with: Result { try body(lm, a) }) }, expired: { cont.resume(throwing: $0) })
                wake()
            } catch {
                cont.resume(throwing: error)
            }
        }
    }

    /// Queues `body` for the worker thread without waiting for it (a streamed answer); `expired` runs
    /// instead if it waits past the deadline. Throws ``ModelQueueError/full(_:)``.
    func enqueue(_ body: @escaping ModelRequestQueue.Request, expired: @escaping @Sendable (ModelQueueError) -> Void) throws {
        try requests.append(body, expired: expired)
        wake()
    }

    func serveModelRequests() { requests.serve(lm, adapters: adapters) }

    /// At a step boundary: serve waiting model requests, then tell whether training must stop.
    func atStepBoundary(job: Int64) -> Bool {
        serveModelRequests()
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
                    // Only while it is still queued; when the worker started it meanwhile, look again.
                    let cancelled = try registry.transition(
                        job: id, .cancel, ifStill: .queued, message: "cancelled by the operator")
                    if cancelled != nil { return .cancelled }
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
            return try registry.transition(
                job: id, cancelled ? .cancel : .trained,
                message: cancelled ? "cancelled by the operator after its training" : nil)
        }
    }
}
