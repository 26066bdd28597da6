import CSystemd
import Foundation

/// sd_notify: READY=1, STATUS=…, WATCHDOG=1, STOPPING=1. A no-op when not run by systemd.
public struct ServiceNotifier: Sendable {
    public init() {}

    public var isSupervised: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func status(_ s: String) { send("STATUS=\(s)") }
    public func watchdog() { send("WATCHDOG=1") }
    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// The watchdog interval systemd expects pings within (WATCHDOG_USEC), if enabled for us.
    public var watchdogInterval: Double? {
        var usec: UInt64 = 0
        return sd_watchdog_enabled(0, &usec) > 0 ? Double(usec) / 1e6 : nil
    }

    func send(_ state: String) {
        guard isSupervised else { return }
        _ = sd_notify(0, state)
    }
}
