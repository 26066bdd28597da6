import CRMAContinual
import CRMAModel
import CRMAMonitor
import Synchronization

/// The general benchmarks every update is judged on, with the base model's scores on them computed once,
/// when the first update is evaluated (on the job thread).
final class GeneralBaseline: Sendable {
    let suite: GeneralSuite
    let settings: GeneralGateSettings
    let context: Int
    private let base = Mutex<[String: Double]?>(nil)

    /// Loads the configured suite (none when `monitor.benchmarks` is empty).
    init(config: DaemonConfig) throws {
        settings = config.monitor.general
        context = config.training.sequenceLength
        if config.monitor.benchmarks.isEmpty {
            suite = GeneralSuite()
        } else {
            try config.checkFiles(configFile: "configuration")
            suite = try settings.loadSuite(config.monitor.benchmarks)
        }
    }

    /// The base model's scores once measured (by the first evaluation, wherever it ran), else nil.
    var knownBase: [String: Double]? { base.withLock { $0 } }

    /// Keeps the base model's scores a worker measured (the first time; they never change).
    func remember(base scores: [String: Double]) {
        guard !scores.isEmpty else { return }
        base.withLock { if $0 == nil { $0 = scores } }
    }
}
