import Foundation

/// What `GET /v1/status` returns: the daemon's phase, the active version, the queue, and the running
/// job's progress with an ETA.
public struct DaemonStatus: Sendable, Codable, Equatable {
    public var state: String
    public var paused: Bool
    public var activeVersion: Int64
    public var domains: Int
    public var queueDepth: Int
    public var job: JobProgress?
    public var model: String
    public var strategy: String
    public var uptimeSeconds: Double
    public var lastError: String?
}

/// The running job as the control API and `crmactl watch` show it.
public struct JobProgress: Sendable, Codable, Equatable {
    public var id: Int64
    public var domain: String
    /// "training" or "evaluating".
    public var phase: String
    public var step: Int
    public var totalSteps: Int
    public var loss: Double?
    public var tokensPerSecond: Double?
    public var etaSeconds: Double?
    /// max over layers of ‖M‖₂ − 1 (CRMA's constraint; ≤ 1e-5 when healthy).
    public var spectralExcess: Double?
    public var startedAt: Double
}

/// Prometheus text exposition of the daemon's gauges and counters.
public enum MetricsText {
    public static func render(
        status: DaemonStatus, versions: [VersionRecord], rejectedFiles: Int
    ) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, v) in samples { out += "\(name)\(labels) \(v.isFinite ? "\(v)" : "NaN")\n" }
        }
        let j = status.job
        metric("crmad_training_tokens_per_second", "gauge", "Training throughput of the running job.", [("", j?.tokensPerSecond ?? 0)])
        metric("crmad_training_loss", "gauge", "Training loss at the last step of the running job.", [("", j?.loss ?? .nan)])
        metric(
            "crmad_crma_spectral_excess", "gauge", "max ||M||_2 - 1 over layers after the last step.",
            [("", j?.spectralExcess ?? 0)])
        metric("crmad_queue_depth", "gauge", "Update jobs waiting.", [("", Double(status.queueDepth))])
        metric("crmad_active_version", "gauge", "Id of the active version.", [("", Double(status.activeVersion))])
        metric(
            "crmad_paused", "gauge", "1 while the job queue is paused.", [("", status.paused ? 1 : 0)])
        let active = versions.first { $0.active }
        var drift: [(String, Double)] = []
        if let active {
            for (d, ref) in active.references.sorted(by: { $0.key < $1.key }) {
                if let now = active.losses[d], ref > 0 { drift.append(("{domain=\"\(d)\"}", 100 * (now - ref) / ref)) }
            }
        }
        metric("crmad_domain_drift_percent", "gauge", "Holdout loss drift of each domain under the active version vs when it was learned.", drift)
        metric(
            "crmad_rollbacks_total", "counter", "Updates the forgetting gate rolled back.",
            [("", Double(versions.filter { $0.state == "rolled_back" }.count))])
        metric(
            "crmad_versions_accepted_total", "counter", "Updates accepted.",
            [("", Double(versions.filter { $0.state == "accepted" }.count))])
        metric("crmad_ingest_rejected_files", "gauge", "Entries in inbox/.rejected.", [("", Double(rejectedFiles))])
        return out
    }
}
