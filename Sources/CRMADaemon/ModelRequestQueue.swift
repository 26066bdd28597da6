import CRMAAdapters
import CRMAModel
import Foundation
import Synchronization

/// Model work the control API asks for (generate, score, completions, export), waiting for the model
/// thread, which serves it between training steps (and between the scored parts of an evaluation) with the
/// model and the active version's adapters. At most `capacity` requests wait: one more is refused
/// (429) instead of queueing without bound; a request that waited longer than `deadline` is answered
/// with an error instead of being served late.
final class ModelRequestQueue: Sendable {
    /// One request, run under the compute turn with the model and the active version's adapters.
    typealias Request = @Sendable (LanguageModel, ActiveAdapters) -> Void

    private struct Waiting {
        let since: Date
        let run: Request
        let expired: @Sendable (ModelQueueError) -> Void
    }

    let capacity: Int
    let deadline: TimeInterval
    private let waiting = Mutex<[Waiting]>([])
    private let closed = Atomic<Bool>(false)

    init(capacity: Int = 16, deadline: TimeInterval = 300) {
        self.capacity = capacity
        self.deadline = deadline
    }

    var isEmpty: Bool { waiting.withLock { $0.isEmpty } }

    /// Queues `request`; `expired` runs instead if it waits past the deadline. Throws
    /// ``ModelQueueError/full(_:)`` when `capacity` requests already wait.
    func append(_ request: @escaping Request, expired: @escaping @Sendable (ModelQueueError) -> Void) throws {
        try waiting.withLock { w in
            guard !closed.load(ordering: .relaxed) else { throw ModelQueueError.stopping }
            guard w.count < capacity else { throw ModelQueueError.full(capacity) }
            w.append(Waiting(since: Date(), run: request, expired: expired))
        }
    }

    /// Runs every waiting request on the calling thread, which holds the compute turn, oldest first.
    func serve(_ lm: LanguageModel, adapters: ActiveAdapters, now: () -> Date = Date.init) {
        let pending = waiting.withLock { w in
            defer { w = [] }
            return w
        }
        for r in pending {
            let waited = now().timeIntervalSince(r.since)
            if waited > deadline { r.expired(.deadline(waited: waited, limit: deadline)) } else { r.run(lm, adapters) }
        }
    }
}

extension ModelRequestQueue {
    /// Refuses every later request (``ModelQueueError/stopping``) and answers those still waiting with it:
    /// nothing serves them once the daemon stops, and an unanswered request would hold its connection open.
    func close() {
        let pending = waiting.withLock { w in
            closed.store(true, ordering: .relaxed)
            defer { w = [] }
            return w
        }
        for r in pending { r.expired(.stopping) }
    }
}

/// Why a model request was not served.
public enum ModelQueueError: Error, Equatable, CustomStringConvertible {
    /// `capacity` requests already wait for the model.
    case full(Int)
    /// The request waited longer than the deadline (a long training step or evaluation part held the model).
    case deadline(waited: Double, limit: Double)
    /// The daemon is stopping: nothing serves model requests any more.
    case stopping

    public var description: String {
        switch self {
        case .full(let n):
            "\(n) model requests are already waiting (control.max_queued_requests); retry shortly"
        case .deadline(let waited, let limit):
            "the request waited \(Int(waited)) s for the model, over control.request_deadline_seconds (\(Int(limit)) s); retry"
        case .stopping: "crmad is stopping; retry when it is back"
        }
    }
}
