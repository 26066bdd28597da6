import CRMAAdapters
import CRMAModel
import Synchronization

/// Model work the control API asks for (generate, score, chat completions), waiting for the worker thread,
/// which serves it between training steps with the model and the active version's adapters.
final class ModelRequestQueue: Sendable {
    /// One request: the model and the active adapters (or why they cannot be loaded) → its answer.
    typealias Request = @Sendable (LanguageModel, Result<AdapterSet, any Error>) -> Void

    private let waiting = Mutex<[Request]>([])

    var isEmpty: Bool { waiting.withLock { $0.isEmpty } }

    func append(_ request: @escaping Request) { waiting.withLock { $0.append(request) } }

    /// Runs every waiting request (on the calling thread, the worker's) with `adapters` loaded only if any.
    func serve(_ lm: LanguageModel, adapters: () throws -> AdapterSet) {
        let pending = waiting.withLock { w in
            defer { w = [] }
            return w
        }
        guard !pending.isEmpty else { return }
        let a = Result { try adapters() }
        for r in pending { r(lm, a) }
    }
}
