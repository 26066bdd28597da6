import CRMAWire

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
