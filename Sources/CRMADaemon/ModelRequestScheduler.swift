import CRMAModel
import Foundation
import ServiceLifecycle
import Synchronization

/// Schedules the control API's model work (generate, score, completions, export) on the CPU the updates
/// train on: one computation at a time, never two competing for the cores. While no update runs, its own
/// thread serves requests as they arrive; while one runs, the update holds the compute turn
/// (``withComputeTurn(_:)``) and serves the waiting requests itself at every step boundary
/// (``serveWaiting()``), so a request waits one training step, or one scored part of an evaluation, at
/// most (the first evaluation after a start also scores the base model on the general suite, unserved). A `Service` of crmad's group.
final class ModelRequestScheduler: Service, Sendable {
    let lm: LanguageModel
    let adapters: ActiveAdapters
    private let requests: ModelRequestQueue
    /// Held by whoever computes: this scheduler's thread while it serves, an update while it runs.
    private let compute = NSLock()
    /// Wakes the idle thread (a request arrived, or stop); it waits on this and nothing else.
    private let signal = NSCondition()
    private let stopping = Atomic<Bool>(false)

    init(lm: LanguageModel, adapters: ActiveAdapters, capacity: Int, deadline: TimeInterval) {
        self.lm = lm
        self.adapters = adapters
        requests = ModelRequestQueue(capacity: capacity, deadline: deadline)
    }

    /// Runs `body` with the model and the active version's adapters, between training steps when an update
    /// runs. Throws ``ModelQueueError`` when too many requests wait or this one waited too long.
    func withModels<T: Sendable>(_ body: @escaping @Sendable (LanguageModel, ActiveAdapters) throws -> T) async throws
        -> T
    {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            do {
                try enqueue({ lm, a in cont.resume(with: Result { try body(lm, a) }) }, expired: { cont.resume(throwing: $0) })
            } catch {
                cont.resume(throwing: error)
            }
        }
    }

    /// Queues `body` without waiting for it (a streamed answer); `expired` runs instead if it waits past the
    /// deadline. Throws ``ModelQueueError/full(_:)``.
    func enqueue(_ body: @escaping ModelRequestQueue.Request, expired: @escaping @Sendable (ModelQueueError) -> Void)
        throws
    {
        try requests.append(body, expired: expired)
        wake()
    }

    /// Runs `body` (an update) holding the compute turn; `body` calls ``serveWaiting()`` at its step boundaries.
    func withComputeTurn<T>(_ body: () throws -> T) rethrows -> T {
        compute.lock()
        defer { compute.unlock() }
        return try body()
    }

    /// Serves every waiting request now, on the calling thread, which holds the compute turn.
    func serveWaiting() { requests.serve(lm, adapters: adapters) }

    /// Serves requests on a dedicated thread until a graceful shutdown; then refuses new ones and answers
    /// those still waiting with ``ModelQueueError/stopping``.
    func run() async throws {
        try await DedicatedThread.run("crmad-requests", loop, stop: stop)
        requests.close()
    }

    private func loop() {
        while !stopping.load(ordering: .relaxed) {
            signal.lock()
            if requests.isEmpty && !stopping.load(ordering: .relaxed) {
                _ = signal.wait(until: Date().addingTimeInterval(5))
            }
            signal.unlock()
            guard !requests.isEmpty else { continue }
            withComputeTurn { serveWaiting() }
        }
    }

    private func stop() {
        stopping.store(true, ordering: .relaxed)
        wake()
    }

    private func wake() {
        signal.lock()
        signal.broadcast()
        signal.unlock()
    }
}
