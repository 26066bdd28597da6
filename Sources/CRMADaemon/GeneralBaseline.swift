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

    /// What the gate judges on the general benchmarks (nil when none are configured).
    func check(_ lm: LanguageModel) -> GeneralCheck? {
        guard !suite.isEmpty else { return nil }
        let check = GeneralCheck(
            gating: suite, lm: lm, context: context, limits: settings.limits, base: base.withLock { $0 })
        base.withLock { $0 = check.base }
        return check
    }
}
