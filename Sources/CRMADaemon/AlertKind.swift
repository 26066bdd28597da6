/// The alerts crmad raises, each with a fixed MESSAGE_ID (made once with `systemd-id128 new`) that
/// `systemd/crmad.catalog` explains. Operators filter on them: `journalctl MESSAGE_ID=<id>`.
public enum AlertKind: String, Sendable, CaseIterable {
    case driftWarning = "drift_warning"
    case driftCritical = "drift_critical"
    case rollback
    case updateAccepted = "update_accepted"
    case ingestRejected = "ingest_rejected"
    case jobFailed = "job_failed"
    case diskFull = "disk_full"

    public var messageID: String {
        switch self {
        case .driftWarning, .driftCritical: "e9c1e72eb9c8497184b93934cac92ae4"
        case .rollback: "e940c5f07c2640a0a19b778df396a1cb"
        case .updateAccepted: "9a93ff6b31174418b771a0129ae27466"
        case .ingestRejected: "eb1957b11e304e1a9c70c5c71b99dfcb"
        case .jobFailed: "2705dd9cb6f74881904ea6326a133290"
        case .diskFull: "7e98fc437de7495e8736c9c9d966493d"
        }
    }

    /// syslog priority: 2 critical, 3 error, 4 warning, 5 notice, 6 info.
    public var priority: Int {
        switch self {
        case .driftCritical: 2
        case .jobFailed, .diskFull: 3
        case .driftWarning, .rollback, .ingestRejected: 4
        case .updateAccepted: 5
        }
    }
}
