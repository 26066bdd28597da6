import CRMAWire
import Foundation
import Logging
import Synchronization

/// Where the daemon's alerts and errors go: an alert to journald (structured, with MESSAGE_ID), to SQLite
/// (for `crmactl alerts`) and to the event stream; an error to the journal and to the status's last error.
public final class AlertSink: Sendable {
    let logger: Logger
    let registry: Registry
    let events: EventHub
    private let last = Mutex<String?>(nil)

    init(logger: Logger, registry: Registry, events: EventHub) {
        self.logger = logger
        self.registry = registry
        self.events = events
    }

    /// The last error recorded (shown by `crmactl status`), nil once cleared.
    public var lastError: String? { last.withLock { $0 } }

    /// Logs an error the daemon continues after, and shows it as the status's last error.
    func record(error: String) {
        logger.error("\(error)")
        setLastError(error)
    }

    func setLastError(_ error: String?) { last.withLock { $0 = error } }

    /// Raises an alert of `kind` about `domain` and `version`, with extra journal `fields`.
    func raise(_ kind: AlertKind, _ message: String, domain: String?, version: Int64?, fields: [String: String] = [:]) {
        var meta: Logger.Metadata = ["MESSAGE_ID": "\(kind.messageID)", "alert": "\(kind.rawValue)"]
        if let domain { meta["domain"] = "\(domain)" }
        if let version { meta["version"] = "\(version)" }
        for (k, v) in fields { meta[k] = "\(v)" }
        let level: Logger.Level =
            switch kind.priority {
            case 2: .critical
            case 3: .error
            case 4: .warning
            default: .notice
            }
        logger.log(level: level, "\(message)", metadata: meta)
        var stored = fields
        stored["message_id"] = kind.messageID
        _ = try? registry.addAlert(
            AlertRecord(
                id: 0, time: Date().timeIntervalSince1970, kind: kind.rawValue, priority: kind.priority,
                message: message,
                domain: domain, version: version, fields: stored))
        events.publish(["event": "alert", "kind": kind.rawValue, "message": message])
    }
}
