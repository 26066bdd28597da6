import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMATraining
import CRMAWire

/// A holdout's token-mean loss and its per-row sums (for bootstrap intervals).
public struct HoldoutScore: Sendable, Equatable, Codable {
    public var mean: Double
    public var perRow: [DocumentLoss]

    public init(mean: Double, perRow: [DocumentLoss]) {
        self.mean = mean
        self.perRow = perRow
    }
}

/// The general benchmarks the gate judges an update on, and the base model's scores on them.
public struct GeneralCheck {
    public var suite: GeneralSuite
    public var tokenizer: Tokenizer
    public var context: Int
    /// The base model's scores (``GeneralSuite/scores(model:tokenizer:context:hooks:)`` with no hooks).
    public var base: [String: Double]
    public var limits: GeneralLimits

    public init(
        suite: GeneralSuite, tokenizer: Tokenizer, context: Int, base: [String: Double],
        limits: GeneralLimits = GeneralLimits()
    ) {
        self.suite = suite
        self.tokenizer = tokenizer
        self.context = context
        self.base = base
        self.limits = limits
    }
}

/// What the evaluation of a candidate found, and the gate's decision on it.
public struct UpdateEvaluation: Sendable {
    public var domain: String
    /// Each earlier domain (other than the one learned) on its pinned rows, scored as it was learned.
    public var earlier: [String: HoldoutScore]
    /// A domain learned again: its loss now on the rows of its previous learning (judged against the
    /// previous reference like any earlier domain).
    public var previousRows: HoldoutScore?
    /// The new domain's holdout under the candidate, and under the base model.
    public var newDomain: HoldoutScore
    public var newDomainBaseLoss: Double
    /// The general benchmarks under the candidate's substrate.
    public var general: [String: Double]
    /// Everything the gate judged, with its reference.
    public var metrics: [MonitoredMetric]
    public var decision: GateDecision
}

extension DomainUpdate {
    /// Scores `candidate` on every earlier domain's pinned rows (with the adapters of the strategy it was
    /// learned with), on the new domain and, when given, on the general benchmarks; asks the gate.
    /// `newDomainBaseLoss`: the base model's loss on the new domain's holdout when already known.
    /// `between` runs between the scored parts (crmad serves waiting model requests there).
    public func evaluate(
        _ candidate: LearnedState, job: Job, general: GeneralCheck? = nil, newDomainBaseLoss: Double? = nil,
        between: () -> Void = {}
    ) -> UpdateEvaluation {
        let domain = job.domain.name
        var metrics: [MonitoredMetric] = []
        var earlier: [String: HoldoutScore] = [:]
        var previous: HoldoutScore?
        for e in job.earlier where !e.holdout.isEmpty {
            let s = score(adapters(scoring: e.name, in: candidate, job: job), e.holdout)
            between()
            if e.name == domain {
                previous = s
                metrics.append(
                    MonitoredMetric(name: .previousRows(domain: e.name), kind: .domain, value: s.mean, reference: e.reference))
            } else {
                earlier[e.name] = s
                metrics.append(
                    MonitoredMetric(name: .holdout(domain: e.name), kind: .domain, value: s.mean, reference: e.reference))
            }
        }
        let new = score(candidate.adapters(scoring: domain, learnedWith: config.strategy), job.domain.holdout)
        between()
        let base = newDomainBaseLoss ?? score(AdapterSet(), job.domain.holdout).mean
        between()
        var generalScores: [String: Double] = [:]
        if let general, !general.suite.isEmpty {
            generalScores = general.suite.scores(
                model: model, tokenizer: general.tokenizer, context: general.context,
                hooks: candidate.substrate(for: config.strategy))
            metrics += GeneralSuite.metrics(generalScores, base: general.base, limits: general.limits)
        }
        let decision = ForgettingGate.decide(
            metrics: metrics, newDomainLoss: new.mean, newDomainBaseLoss: base, thresholds: config.gate)
        return UpdateEvaluation(
            domain: domain, earlier: earlier, previousRows: previous, newDomain: new, newDomainBaseLoss: base,
            general: generalScores, metrics: metrics, decision: decision)
    }

    /// The holdout score of `rows` under `adapters` (token-mean loss and per-row sums).
    public func score(_ adapters: AdapterSet, _ rows: [PackedRow]) -> HoldoutScore {
        let s = HoldoutScorer.score(model: model, adapters: adapters, rows: rows)
        return HoldoutScore(mean: s.mean, perRow: s.perRow)
    }
}
