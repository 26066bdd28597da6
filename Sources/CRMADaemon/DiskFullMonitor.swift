import Foundation
import Logging
import Synchronization

/// Disk full in the state directory: one alert (journal; SQLite too if it can still write), the status says
/// so, and jobs wait instead of failing. Nothing stored is changed; files stay in the inbox.
final class DiskFullMonitor: Sendable {
    private struct State {
        var full = false
        /// The job runner does not retry a job before this time.
        var retryAfter = Date.distantPast
    }

    let stateDirectory: String
    let alerts: AlertSink
    let notifier: ServiceNotifier
    private let state = Mutex(State())

    init(stateDirectory: String, alerts: AlertSink, notifier: ServiceNotifier) {
        self.stateDirectory = stateDirectory
        self.alerts = alerts
        self.notifier = notifier
    }

    /// Whether writes failed for lack of space and have not succeeded since.
    var isFull: Bool { state.withLock { $0.full } }

    /// Whether the job runner may take a job (not within a few seconds of a disk-full failure).
    var jobsMayRun: Bool { state.withLock { $0.retryAfter <= Date() } }

    /// Whether the state directory's file system has (almost) no space left (under 4 MiB).
    func stateDirectoryIsFull() -> Bool {
        var s = statvfs()
        guard statvfs(stateDirectory, &s) == 0 else { return false }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize) < 4 << 20
    }

    /// Reports that `what` could not be written: an alert the first time, the status's last error always.
    func report(_ what: String) {
        let first = state.withLock { s in
            defer {
                s.full = true
                s.retryAfter = Date().addingTimeInterval(5)
            }
            return !s.full
        }
        alerts.setLastError("disk full: \(what). Free space in \(stateDirectory); crmad continues by itself.")
        if first {
            alerts.raise(
                .diskFull, "the state directory \(stateDirectory) is full: \(what)", domain: nil, version: nil,
                fields: ["action": "waiting for space; nothing changed"])
            notifier.status("disk full: waiting for space in \(stateDirectory)")
        }
    }

    /// A write succeeded: clears the condition (and the status's error) if it was set.
    func recovered() {
        let was = state.withLock { s in
            defer { s.full = false }
            return s.full
        }
        guard was else { return }
        alerts.setLastError(nil)
        alerts.logger.notice("space is available again in \(stateDirectory); continuing")
    }
}
