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

/// What the evaluation of a candidate found: every score measured (read through, as `evaluation.earlier`),
/// and the gate's judgement of them.
@dynamicMemberLookup
public struct UpdateEvaluation: Sendable {
    public var measurement: UpdateMeasurement
    /// Everything the gate judged, with its reference.
    public var metrics: [MonitoredMetric]
    public var decision: GateDecision

    public subscript<T>(dynamicMember score: KeyPath<UpdateMeasurement, T>) -> T { measurement[keyPath: score] }
}

/// What a candidate scored, measured but not yet judged: the part of an evaluation that needs the model
/// (a compute node's work), kept apart from the gate's decision (crmad's, ``DomainUpdate/judge(_:job:generalLimits:gate:)``).
public struct UpdateMeasurement: Sendable, Equatable, Codable {
    public var domain: String
    /// Each earlier domain (other than the one learned) on its pinned rows, scored as it was learned.
    public var earlier: [String: HoldoutScore]
    /// A domain learned again: its loss now on the rows of its previous learning (judged against the
    /// previous reference like any earlier domain).
    public var previousRows: HoldoutScore?
    /// The new domain's holdout under the candidate, and under the base model.
    public var newDomain: HoldoutScore
    public var newDomainBaseLoss: Double
    /// The general benchmarks under the candidate's substrate, and under the base model (the scores they
    /// are judged against; empty without general benchmarks).
    public var general: [String: Double]
    public var generalBase: [String: Double]

    public init(
        domain: String, earlier: [String: HoldoutScore], previousRows: HoldoutScore?, newDomain: HoldoutScore,
        newDomainBaseLoss: Double, general: [String: Double], generalBase: [String: Double]
    ) {
        self.domain = domain
        self.earlier = earlier
        self.previousRows = previousRows
        self.newDomain = newDomain
        self.newDomainBaseLoss = newDomainBaseLoss
        self.general = general
        self.generalBase = generalBase
    }
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
        judge(
            measure(candidate, job: job, general: general, newDomainBaseLoss: newDomainBaseLoss, between: between),
            job: job, generalLimits: general?.limits ?? GeneralLimits())
    }

    /// The scoring half of ``evaluate(_:job:general:newDomainBaseLoss:between:)``: every score the gate needs.
    public func measure(
        _ candidate: LearnedState, job: Job, general: GeneralCheck? = nil, newDomainBaseLoss: Double? = nil,
        between: () -> Void = {}
    ) -> UpdateMeasurement {
        let domain = job.domain.name
        var earlier: [String: HoldoutScore] = [:]
        var previous: HoldoutScore?
        for e in job.earlier where !e.holdout.isEmpty {
            let s = score(adapters(scoring: e.name, in: candidate, job: job), e.holdout)
            between()
            if e.name == domain { previous = s } else { earlier[e.name] = s }
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
        }
        return UpdateMeasurement(
            domain: domain, earlier: earlier, previousRows: previous, newDomain: new, newDomainBaseLoss: base,
            general: generalScores, generalBase: generalScores.isEmpty ? [:] : general?.base ?? [:])
    }

    /// The judging half: every measured score against its reference (an earlier domain's from `job`, a
    /// general benchmark's from the base model's score), and the gate's decision with `gate` (the update's
    /// own thresholds when nil). Pure: crmad judges here whatever host measured.
    public func judge(
        _ m: UpdateMeasurement, job: Job, generalLimits: GeneralLimits, gate: GateThresholds? = nil
    ) -> UpdateEvaluation {
        var metrics: [MonitoredMetric] = []
        for e in job.earlier where !e.holdout.isEmpty {
            // A score the measurement lacks (a measurement of another job, or a corrupt one) is judged as
            // unmeasurable: a non-finite value blocks promotion.
            let own = e.name == m.domain
            let value = (own ? m.previousRows : m.earlier[e.name])?.mean ?? .nan
            metrics.append(
                MonitoredMetric(
                    name: own ? .previousRows(domain: e.name) : .holdout(domain: e.name), kind: .domain, value: value,
                    reference: e.reference))
        }
        if !m.general.isEmpty {
            metrics += GeneralSuite.metrics(m.general, base: m.generalBase, limits: generalLimits)
        }
        let decision = ForgettingGate.decide(
            metrics: metrics, newDomainLoss: m.newDomain.mean, newDomainBaseLoss: m.newDomainBaseLoss,
            thresholds: gate ?? config.gate)
        return UpdateEvaluation(measurement: m, metrics: metrics, decision: decision)
    }

    /// The holdout score of `rows` under `adapters` (token-mean loss and per-row sums).
    public func score(_ adapters: AdapterSet, _ rows: [PackedRow]) -> HoldoutScore {
        let s = HoldoutScorer.score(model: model, adapters: adapters, rows: rows)
        return HoldoutScore(mean: s.mean, perRow: s.perRow)
    }
}
