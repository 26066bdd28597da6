import CRMAContinual
import CRMAModel
import CRMAMonitor
import Synchronization

/// The general benchmarks every update is judged on, with the base model's scores on them computed once,
/// when the first update is evaluated (on the worker thread).
final class GeneralBaseline: Sendable {
    /// The multiple-choice tasks of the general suite (none of them is a task domain we train on).
    static let tasks = ["hellaswag", "piqa", "winogrande"]

    let suite: GeneralSuite
    let monitor: DaemonConfig.Monitor
    let context: Int
    private let base = Mutex<[String: Double]?>(nil)

    /// Loads the configured suite (none when `monitor.benchmarks` is empty).
    init(config: DaemonConfig) throws {
        monitor = config.monitor
        context = config.training.sequenceLength
        if config.monitor.benchmarks.isEmpty {
            suite = GeneralSuite()
        } else {
            try config.checkFiles(configFile: "configuration")
            let m = config.monitor
            suite = try GeneralSuite.load(
                m.benchmarks, documents: m.generalDocuments, probes: m.probeDocuments, tasks: Self.tasks,
                items: m.multipleChoiceItems)
        }
    }

    /// What the gate judges on the general benchmarks (nil when none are configured).
    func check(_ lm: LanguageModel) -> GeneralCheck? {
        guard !suite.isEmpty else { return nil }
        let scores =
            base.withLock { $0 }
            ?? suite.scores(model: lm.model, tokenizer: lm.tokenizer, context: context, hooks: nil)
        base.withLock { $0 = scores }
        return GeneralCheck(
            suite: suite, tokenizer: lm.tokenizer, context: context, base: scores,
            limits: GeneralLimits(
                accuracyPoints: GateThresholds(
                    warn: monitor.accuracyWarnPoints, critical: monitor.accuracyCriticalPoints),
                kl: GateThresholds(warn: monitor.klWarn, critical: monitor.klCritical)))
    }
}
