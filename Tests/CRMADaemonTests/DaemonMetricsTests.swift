@testable import CRMAAdapters
@testable import CRMADaemon
@testable import CRMATraining
import CRMAWire
import Metrics
import Prometheus
import Testing

/// GET /metrics as a scraper reads it: the daemon records through swift-metrics into a Prometheus
/// registry, and the page is parsed back.
@Suite struct DaemonMetricsTests {
    /// Every name the hand-written exposition had, plus the CRMA margin error and the step timer.
    static let names = [
        "crmad_training_tokens_per_second", "crmad_training_loss", "crmad_crma_spectral_excess", "crmad_queue_depth",
        "crmad_active_version", "crmad_paused", "crmad_domain_drift_percent", "crmad_rollbacks_total",
        "crmad_versions_accepted_total", "crmad_ingest_rejected_files", "crmad_crma_margin_error",
        "crmad_training_step_seconds",
    ]

    struct Page {
        var help: [String: String] = [:]
        var type: [String: String] = [:]
        /// `name{labels}` → value.
        var samples: [String: Double] = [:]

        init(_ text: String) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                if parts[0] == "#" {
                    if parts[1] == "HELP" { help[parts[2]] = parts[3] }
                    if parts[1] == "TYPE" { type[parts[2]] = parts[3] }
                } else {
                    let value = parts.last!
                    samples[parts.dropLast().joined(separator: " ")] =
                        ["NaN": .nan, "+Inf": .infinity, "-Inf": -.infinity][value] ?? Double(value)!
                }
            }
        }

        func family(_ name: String) -> [String: Double] {
            samples.filter { $0.key == name || $0.key.hasPrefix("\(name){") || $0.key.hasPrefix("\(name)_") }
        }
    }

    static func version(
        _ id: Int64, _ state: String, active: Bool, refs: [String: Double] = [:], losses: [String: Double] = [:]
    )
        -> VersionRecord
    {
        VersionRecord(
            id: id, parentID: id > 1 ? 1 : nil, domain: nil, jobID: nil, state: state, adaptersHash: nil,
            configHash: "",
            dataHashes: [], references: refs, losses: losses, general: [:], reasons: [], createdAt: 0, active: active)
    }

    static func status(_ job: JobProgress?, active: Int64) -> DaemonStatus {
        DaemonStatus(
            state: job?.phase ?? "idle", paused: false, activeVersion: active, domains: 1, queueDepth: 3, job: job,
            model: "tiny", strategy: "crma", uptimeSeconds: 1, lastError: nil)
    }

    @Test func pageCarriesEveryMetricAndTheCRMAHealthOfTheLastStep() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = DaemonMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let emit = {
            var b: [UInt8] = []; registry.emit(into: &b); return b
        }
        let job = JobRecord(
            id: 7, domain: "medical", state: .training, strategy: "crma", createdAt: 0, updatedAt: 0, notBefore: 0,
            step: 0, totalSteps: 10, versionID: nil, message: nil)
        var meter = ProgressMeter(id: job.id, domain: job.domain, step: job.step, started: 0, metrics: metrics)
        var progress: JobProgress?
        for (step, loss) in [(1, 3.0), (2, 2.5)] {
            let report = StepReport(
                step: step, loss: loss, learningRateMultiplier: 1, clip: [:], skipped: false,
                crmaHealth: CRMAHealth(maxSpectralExcess: 0.02, maxMarginError: 0.003 * Double(step)), tokens: 64)
            progress = meter.progress(after: report, step: step, totalSteps: 10)
        }
        let versions = [
            Self.version(1, "base", active: false),
            Self.version(2, "accepted", active: true, refs: ["medical": 2.0], losses: ["medical": 2.2]),
            Self.version(3, "rolled_back", active: false),
        ]
        let text = metrics.page(
            status: Self.status(progress, active: 2), versions: versions, rejectedFiles: 4, emit: emit)
        let page = Page(text)
        for name in Self.names {
            #expect(page.help[name]?.isEmpty == false, "HELP for \(name)")
            #expect(page.type[name] != nil, "TYPE for \(name)")
            #expect(!page.family(name).isEmpty, "samples of \(name)")
        }
        #expect(page.samples["crmad_crma_margin_error"] == 0.006)
        #expect(page.samples["crmad_crma_spectral_excess"] == 0.02)
        #expect(page.samples["crmad_training_loss"] == 2.5)
        #expect(page.samples["crmad_domain_drift_percent{domain=\"medical\"}"].map { abs($0 - 10) < 1e-9 } == true)
        #expect(page.samples["crmad_rollbacks_total"] == 1)
        #expect(page.samples["crmad_versions_accepted_total"] == 1)
        #expect(page.samples["crmad_active_version"] == 2)
        #expect(page.samples["crmad_queue_depth"] == 3)
        #expect(page.samples["crmad_ingest_rejected_files"] == 4)
        #expect(page.type["crmad_rollbacks_total"] == "counter")
        #expect(page.type["crmad_training_step_seconds"] == "histogram")
        #expect(page.samples["crmad_training_step_seconds_count"] == 1, "the first step of a run has no duration")

        // Idle after an operator's rollback to the base model: the training gauges reset, the drift of a
        // domain the active version no longer has disappears, and the counters keep the registry's totals.
        let after =
            versions.map { v in
                var v = v; v.active = v.id == 1; return v
            } + [Self.version(4, "rolled_back", active: false)]
        let idleText = metrics.page(status: Self.status(nil, active: 1), versions: after, rejectedFiles: 4, emit: emit)
        let idle = Page(idleText)
        #expect(idleText.contains("\ncrmad_training_loss NaN\n"))
        #expect(idle.samples["crmad_training_loss"]?.isNaN == true)
        #expect(idle.samples["crmad_crma_margin_error"] == 0)
        #expect(idle.samples["crmad_training_tokens_per_second"] == 0)
        #expect(idle.family("crmad_domain_drift_percent").isEmpty)
        #expect(idle.samples["crmad_rollbacks_total"] == 2)
        #expect(idle.samples["crmad_versions_accepted_total"] == 1)
        #expect(idle.samples["crmad_active_version"] == 1)
    }

    @Test func documentedSortsFamiliesAddsHelpAndSpellsSpecialValues() {
        let raw =
            "# TYPE crmad_paused gauge\ncrmad_paused inf\n# TYPE crmad_active_version gauge\ncrmad_active_version -inf\n"
        #expect(
            DaemonMetrics.documented(raw) == """
                # HELP crmad_active_version Id of the active version.
                # TYPE crmad_active_version gauge
                crmad_active_version -Inf
                # HELP crmad_paused 1 while the job queue is paused.
                # TYPE crmad_paused gauge
                crmad_paused +Inf

                """)
    }
}
