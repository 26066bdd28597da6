import CRMAModel
import CRMAMonitor

/// The general benchmarks the gate judges every update on besides the domains — which tasks, how much of
/// each, and the limits of the metrics judged in their own units — defined once for crmad (its `[monitor]`
/// section) and for `crma-bench forgetting --gated`, so "gated as crmad gates" holds by construction.
public struct GeneralGateSettings: Sendable, Equatable {
    /// The multiple-choice tasks of the suite (none of them is a task domain we train on; ARC is the science
    /// task domain, so it is not among them).
    public static let tasks = ["hellaswag", "piqa", "winogrande"]

    /// General texts scored for bits per byte (judged like a domain, by relative change).
    public var documents = 8
    /// General texts after those on which KL(base ‖ current) and top-1 agreement are measured.
    public var probes = 4
    /// Items per multiple-choice task (0: none).
    public var multipleChoiceItems = 100
    /// Accuracy drop (points) and KL (nats per token) that warn and that roll back.
    public var limits = GeneralLimits()

    public init() {}

    /// Reads the suite from `dir` (general.jsonl and `<task>.jsonl` for each of ``tasks`` present).
    public func loadSuite(_ dir: String) throws -> GeneralSuite {
        try GeneralSuite.load(
            dir, documents: documents, probes: probes, tasks: Self.tasks, items: multipleChoiceItems)
    }
}

extension GeneralCheck {
    /// The check the gate runs on `suite`: every score of the suite (bits per byte, multiple-choice accuracy,
    /// KL on the probes) judged against the base model's scores, `base` when already measured (else measured
    /// here, on the calling thread) — the same check whoever gates.
    public init(
        gating suite: GeneralSuite, lm: LanguageModel, context: Int, limits: GeneralLimits,
        base: [String: Double]? = nil
    ) {
        self.init(
            suite: suite, tokenizer: lm.tokenizer, context: context,
            base: base ?? suite.scores(model: lm.model, tokenizer: lm.tokenizer, context: context, hooks: nil),
            limits: limits)
    }
}
