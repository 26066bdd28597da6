import Foundation
import Logging
import ServiceLifecycle
import Synchronization
@testable import CRMADaemon

/// Runs a daemon with crmad's own lifecycle — ``Daemon/recover()``, then ``Daemon/services`` in one
/// `ServiceGroup`, stopped by a graceful shutdown — without the control server.
final class DaemonLifecycle: Sendable {
    private static let running = Mutex<[ObjectIdentifier: (ServiceGroup, Task<Void, any Error>)]>([:])

    static func start(_ d: Daemon) throws {
        try d.recover()
        let group = ServiceGroup(services: d.services, logger: d.logger)
        let task = Task { try await group.run() }
        running.withLock { $0[ObjectIdentifier(d)] = (group, task) }
    }

    /// Shuts the group down as SIGTERM would and waits until every service stopped.
    static func stop(_ d: Daemon) async {
        guard let (group, task) = running.withLock({ $0.removeValue(forKey: ObjectIdentifier(d)) }) else { return }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

extension Daemon {
    /// Starts the daemon as crmad does (``DaemonLifecycle``).
    func start() throws { try DaemonLifecycle.start(self) }
}
