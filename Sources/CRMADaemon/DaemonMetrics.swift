import CRMAAdapters
import CRMATraining
import CRMAWire
import Metrics
import Synchronization

/// The daemon's metrics, recorded through swift-metrics. The backend is crmad's choice (Prometheus,
/// bootstrapped once at start-up); GET /metrics shows its exposition through `page`.
///
/// Training metrics are recorded at every step (`recordStep`). The daemon's state (queue, active version,
/// pause, each domain's drift, accepted and rolled-back updates, rejected files) is sampled from the
/// registry when /metrics is read, so it is exact after a restart too.
public final class DaemonMetrics: Sendable {
    /// The handles the daemon records into, made from the bootstrapped factory on first use (crmad
    /// bootstraps before it creates the daemon; without a bootstrap they record nothing).
    public static let shared = DaemonMetrics()

    public enum Name {
        public static let tokensPerSecond = "crmad_training_tokens_per_second"
        public static let loss = "crmad_training_loss"
        public static let stepSeconds = "crmad_training_step_seconds"
        public static let spectralExcess = "crmad_crma_spectral_excess"
        public static let marginError = "crmad_crma_margin_error"
        public static let queueDepth = "crmad_queue_depth"
        public static let activeVersion = "crmad_active_version"
        public static let paused = "crmad_paused"
        public static let domainDrift = "crmad_domain_drift_percent"
        public static let rollbacks = "crmad_rollbacks_total"
        public static let accepted = "crmad_versions_accepted_total"
        public static let rejectedFiles = "crmad_ingest_rejected_files"
    }

    /// Each metric's `# HELP` text (swift-metrics carries none, so `page` adds it).
    public static let help: [String: String] = [
        Name.tokensPerSecond: "Training throughput of the running job.",
        Name.loss: "Training loss at the last step of the running job.",
        Name.stepSeconds: "Wall time between consecutive training steps of a job.",
        Name.spectralExcess: "max ||M||_2 - 1 over layers after the last step.",
        Name.marginError: "max |row or column sum of M - 1| over layers after the last step.",
        Name.queueDepth: "Update jobs waiting.",
        Name.activeVersion: "Id of the active version.",
        Name.paused: "1 while the job queue is paused.",
        Name.domainDrift: "Holdout loss drift of each domain under the active version vs when it was learned.",
        Name.rollbacks: "Updates the forgetting gate rolled back.",
        Name.accepted: "Updates accepted.",
        Name.rejectedFiles: "Entries in inbox/.rejected.",
    ]

    private struct Sampled {
        var drift: [String: Gauge] = [:]
        var rollbacks = 0
        var accepted = 0
    }

    private let factory: any MetricsFactory
    private let tokensPerSecond, loss, spectralExcess, marginError: Gauge
    private let stepSeconds: Metrics.Timer
    private let queueDepth, activeVersion, paused, rejectedFiles: Gauge
    private let rollbacks, accepted: Counter
    private let sampled = Mutex(Sampled())

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        tokensPerSecond = Gauge(label: Name.tokensPerSecond, factory: factory)
        loss = Gauge(label: Name.loss, factory: factory)
        stepSeconds = Metrics.Timer(label: Name.stepSeconds, factory: factory)
        spectralExcess = Gauge(label: Name.spectralExcess, factory: factory)
        marginError = Gauge(label: Name.marginError, factory: factory)
        queueDepth = Gauge(label: Name.queueDepth, factory: factory)
        activeVersion = Gauge(label: Name.activeVersion, factory: factory)
        paused = Gauge(label: Name.paused, factory: factory)
        rejectedFiles = Gauge(label: Name.rejectedFiles, factory: factory)
        rollbacks = Counter(label: Name.rollbacks, factory: factory)
        accepted = Counter(label: Name.accepted, factory: factory)
        recordIdle()
    }

    /// One training step: its loss, the job's throughput, the step's wall time (nil for the first step of a
    /// run), and the CRMA constraint's health (0 when the strategy trains no CRMA substrate).
    public func recordStep(_ report: StepReport, tokensPerSecond tps: Double, nanoseconds: Int64?) {
        loss.record(report.loss)
        tokensPerSecond.record(tps)
        if let nanoseconds { stepSeconds.recordNanoseconds(nanoseconds) }
        spectralExcess.record(report.crmaHealth?.maxSpectralExcess ?? 0)
        marginError.record(report.crmaHealth?.maxMarginError ?? 0)
    }

    /// The training gauges while no step runs: no throughput, no loss, nothing to measure on M.
    func recordIdle() {
        tokensPerSecond.record(0)
        loss.record(Double.nan)
        spectralExcess.record(0)
        marginError.record(0)
    }

    /// Samples the daemon's state into the gauges and counters. Without a job in its training phase the
    /// training gauges read idle, as they did before the job's first step.
    public func sample(status: DaemonStatus, versions: [VersionRecord], rejectedFiles rejected: Int) {
        if status.job?.phase != "training" { recordIdle() }
        queueDepth.record(status.queueDepth)
        activeVersion.record(status.activeVersion)
        paused.record(status.paused ? 1 : 0)
        rejectedFiles.record(rejected)
        var drift: [String: Double] = [:]
        if let active = versions.first(where: { $0.active }) {
            for (d, ref) in active.references {
                if let now = active.losses[d], ref > 0 { drift[d] = 100 * (now - ref) / ref }
            }
        }
        let rolledBack = versions.filter { $0.state == "rolled_back" }.count
        let acceptedCount = versions.filter { $0.state == "accepted" }.count
        sampled.withLock { s in
            // Counters only go up; they follow the registry's totals (from 0 at start-up to all-time).
            if rolledBack > s.rollbacks { rollbacks.increment(by: rolledBack - s.rollbacks) }
            if acceptedCount > s.accepted { accepted.increment(by: acceptedCount - s.accepted) }
            s.rollbacks = max(s.rollbacks, rolledBack)
            s.accepted = max(s.accepted, acceptedCount)
            for (d, gauge) in s.drift where drift[d] == nil {
                gauge.destroy()  // a domain the active version no longer has (after a rollback)
                s.drift[d] = nil
            }
            for (d, percent) in drift {
                let gauge = s.drift[d] ?? Gauge(label: Name.domainDrift, dimensions: [("domain", d)], factory: factory)
                s.drift[d] = gauge
                gauge.record(percent)
            }
        }
    }

    /// The /metrics page: the state sampled, then the backend's exposition (`emit`) made readable.
    public func page(
        status: DaemonStatus, versions: [VersionRecord], rejectedFiles: Int, emit: () -> [UInt8]
    ) -> String {
        sample(status: status, versions: versions, rejectedFiles: rejectedFiles)
        return Self.documented(String(decoding: emit(), as: UTF8.self))
    }

    /// Prometheus text as an operator reads it: families sorted by name, a `# HELP` line before each of
    /// ours, and NaN and ±Inf spelled the way the exposition format spells them (the backend writes
    /// Swift's `nan` and `inf`).
    public static func documented(_ exposition: String) -> String {
        var families: [(name: String, lines: [String])] = []
        for var line in exposition.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# TYPE ") {
                let name = String(line.split(separator: " ")[2])
                families.append((name, help[name].map { ["# HELP \(name) \($0)"] } ?? []))
            } else if families.isEmpty {
                families.append(("", []))
            }
            if !line.hasPrefix("#"), let space = line.lastIndex(of: " ") {
                let spelled = ["nan": "NaN", "inf": "+Inf", "-inf": "-Inf"][String(line[line.index(after: space)...])]
                if let spelled { line = line[...space] + spelled }
            }
            families[families.count - 1].lines.append(line)
        }
        return families.sorted { $0.name < $1.name }.flatMap(\.lines).map { $0 + "\n" }.joined()
    }
}
