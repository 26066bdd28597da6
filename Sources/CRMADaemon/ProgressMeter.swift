import CRMAAdapters
import CRMATraining
import CRMAWire
import Foundation

/// A running job's progress as `crmactl status` and `watch` show it: tokens per second over the last few
/// steps, and the time left at the rate since this run of the job started (a resumed job counts from its
/// checkpoint, so the ETA is not skewed by steps done before a restart). Each step's metrics (loss,
/// throughput, step time, CRMA health) are recorded as the step is reported.
struct ProgressMeter {
    let id: Int64
    let domain: String
    let started: Double
    let metrics: DaemonMetrics
    private var window: [(time: Date, tokens: Int)] = []
    private var runStart = Date()
    private var firstStep: Int

    init(id: Int64, domain: String, step: Int, started: Double, metrics: DaemonMetrics = .shared) {
        self.id = id
        self.domain = domain
        self.started = started
        self.metrics = metrics
        firstStep = step
    }

    mutating func resumed(at step: Int) {
        firstStep = step
        runStart = Date()
    }

    mutating func progress(after report: StepReport, step: Int, totalSteps: Int) -> JobProgress {
        let now = Date()
        let stepNanoseconds = window.last.map { Int64(now.timeIntervalSince($0.time) * 1e9) }
        window.append((now, report.tokens))
        if window.count > 5 { window.removeFirst() }
        let tps =
            window.count > 1
            ? Double(window.dropFirst().map(\.tokens).reduce(0, +)) / now.timeIntervalSince(window[0].time) : 0
        let done = max(1, step - firstStep)
        let eta = now.timeIntervalSince(runStart) / Double(done) * Double(totalSteps - step)
        metrics.recordStep(report, tokensPerSecond: tps, nanoseconds: stepNanoseconds)
        return JobProgress(
            id: id, domain: domain, phase: "training", step: step, totalSteps: totalSteps, loss: report.loss,
            tokensPerSecond: tps, etaSeconds: eta, spectralExcess: report.crmaHealth?.maxSpectralExcess,
            startedAt: started)
    }
}
