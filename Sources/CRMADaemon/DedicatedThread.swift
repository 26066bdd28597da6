import Foundation
import ServiceLifecycle

/// A named thread with a large stack for the daemon's long-running loops (training, inotify), kept off the
/// Swift concurrency pool (engineering-notes.md: two cores give the pool two threads). `join()` waits for it.
final class DedicatedThread: Sendable {
    private let finished = DispatchGroup()

    /// Starts `body` on a new thread called `name`.
    init(_ name: String, _ body: @escaping @Sendable () -> Void) {
        finished.enter()
        let t = Thread { [finished] in
            body()
            finished.leave()
        }
        t.name = name
        t.stackSize = 16 << 20
        t.start()
    }

    /// Blocks until the thread's body returned.
    func join() { finished.wait() }
}

extension DedicatedThread {
    /// A `Service`'s life on a thread of its own: `body` runs on a new thread called `name` from the start;
    /// when a graceful shutdown arrives, `stop` asks it to end and the thread is joined — waiting on another
    /// thread, never on the concurrency pool.
    static func run(_ name: String, _ body: @escaping @Sendable () -> Void, stop: @escaping @Sendable () -> Void)
        async throws
    {
        let thread = DedicatedThread(name, body)
        try? await gracefulShutdown()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                stop()
                thread.join()
                c.resume()
            }
        }
    }
}
