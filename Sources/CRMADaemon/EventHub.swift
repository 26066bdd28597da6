import Foundation
import Synchronization

/// The daemon's server-sent events (`/v1/events`): every progress update, job change and alert as one
/// JSON object per line, delivered to each subscriber's stream (the newest 64 lines kept for a slow reader).
public final class EventHub: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<String>.Continuation]>([:])

    public init() {}

    /// A stream of every event published from now on; it ends when the hub is closed.
    public func subscribe() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let id = UUID()
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { $0[id] = nil }
        }
        return stream
    }

    /// Publishes `object` as one JSON line (keys sorted).
    public func publish(_ object: [String: String]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        publish(line: String(decoding: data, as: UTF8.self))
    }

    /// Publishes one line that is already JSON.
    public func publish(line: String) {
        for s in subscribers.withLock({ Array($0.values) }) { s.yield(line) }
    }

    /// Ends every open stream (at shutdown, so the control server's event connections close).
    public func close() {
        let open = subscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return Array(subscribers.values)
        }
        // Outside the lock: finishing a stream runs its onTermination, which takes the lock.
        for c in open { c.finish() }
    }
}
