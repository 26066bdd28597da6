import CRMAContinual
import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMATraining

/// Runs domains in order with one strategy through the update pipeline (``DomainUpdate``) and fills the
/// loss matrix: after update k, every domain j ≤ k is scored as the strategy assigns. The gate judges
/// every update; `gated` makes the run behave like crmad: a rolled-back candidate is dropped and the next
/// domain trains on the last accepted state.
public struct ContinualRun {
    public let model: LlamaModel
    public let config: ContinualConfig
    public let gated: Bool

    public init(model: LlamaModel, config: ContinualConfig, gated: Bool = false) {
        self.model = model
        self.config = config
        self.gated = gated
    }

    public struct Result {
        public var matrix: LossMatrix
        /// Holdout loss of each domain under the base model (before any update).
        public var baseLosses: [Double]
        /// `perRow[k][j]`: per-row holdout losses of domain j after update k (for bootstrap intervals).
        public var perRow: [[[DocumentLoss]]]
        /// The state after the last update (the last accepted one when gated).
        public var state: LearnedState
        /// The substrate after the last update (for the general benchmarks).
        public var substrate: AdapterSet
        /// The gate's decision on every update, in order (what crmad would have done).
        public var decisions: [UpdateDecision]
        /// lwf: what the teacher cost per domain.
        public var teacherCosts: [String: TeacherCost]
        /// An ungated run with a rollback: where the gated run parts from it. Up to its first rollback the
        /// gated run trains the same candidates from the same parents, so it can start from the progress
        /// after that update (the rolled-back one is `next - 1`) instead of retraining them.
        public var gatedFork: RunProgress?
    }

    /// The base model's holdout loss of each domain (the same for every strategy and seed).
    public static func baseLosses(model: LlamaModel, domains: [DomainData]) -> [Double] {
        domains.map { HoldoutScorer.score(model: model, adapters: AdapterSet(), rows: $0.holdout).mean }
    }

    /// The seed of update k: each domain's LoRA and batch order get their own.
    public static func seed(_ base: UInt64, update k: Int) -> UInt64 { base &+ 1000 &* UInt64(k + 1) }

    /// `baseLosses`: pass ``baseLosses(model:domains:)`` when running several strategies on the same
    /// domains, so the base model is scored once. `general`: the general benchmarks the gate also judges.
    /// `onDomain(k, losses)` runs after update k is scored; `onState(k, state)` then receives the state in
    /// force after update k (to score more than losses with it; it must not change it); `onProgress` then
    /// receives the run's progress and the gated fork found so far (to save them: a run started `from` that
    /// progress, with that `fork`, goes on exactly as this one would have).
    /// With `from`, the run continues after that progress's last update (an interrupted run, or a gated run
    /// from an ungated run's ``Result/gatedFork``); `fork` is an interrupted ungated run's fork.
    public func run(
        _ domains: [DomainData], baseLosses: [Double]? = nil, general: GeneralCheck? = nil,
        from start: RunProgress? = nil, fork startFork: RunProgress? = nil,
        onStep: ((String, StepReport) -> Void)? = nil, onDomain: (Int, [Double]) -> Void = { _, _ in },
        onState: (Int, LearnedState) throws -> Void = { _, _ in },
        onProgress: (RunProgress, _ gatedFork: RunProgress?) throws -> Void = { _, _ in }
    ) throws -> Result {
        precondition(startFork == nil || !gated, "only an ungated run has a fork")
        let update = DomainUpdate(model: model, config: config)
        let base = baseLosses ?? Self.baseLosses(model: model, domains: domains)
        var state = start?.state ?? LearnedState.empty
        var ledger = start?.ledger ?? RunProgress.Ledger()
        var gatedFork = startFork
        /// Row k of the matrix: every domain so far under the state in force after update k (`accepted`:
        /// the candidate, scored by its evaluation; else `state`, the earlier rows unchanged).
        func row(_ k: Int, accepted: Bool, evaluation: UpdateEvaluation, state: LearnedState) -> ([Double], [[DocumentLoss]]) {
            var losses: [Double] = []
            var rows: [[DocumentLoss]] = []
            for j in 0...k {
                let s: HoldoutScore
                if accepted, j == k {
                    s = evaluation.newDomain
                } else if accepted, let e = evaluation.earlier[domains[j].name] {
                    s = e
                } else if !accepted, j < k {
                    s = HoldoutScore(mean: ledger.matrix[k - 1, j], perRow: ledger.perRow[k - 1][j])
                } else {
                    s = update.score(state.adapters(scoring: domains[j].name, learnedWith: config.strategy), domains[j].holdout)
                }
                losses.append(s.mean)
                rows.append(s.perRow)
            }
            return (losses, rows)
        }
        for k in ledger.matrix.updates..<domains.count {
            let d = domains[k]
            let job = DomainUpdate.Job(
                domain: d, earlier: ledger.learnedDomains(domains, strategy: config.strategy),
                replayRows: ledger.replayRows(k, domains), seed: Self.seed(config.seed, update: k))
            let outcome = try update.train(job, parent: state) { event in
                if case .step(let report, _, _) = event { onStep?(d.name, report) }
                return .more
            }
            guard case .trained(let candidate) = outcome else { preconditionFailure("a benchmark update never stops") }
            let evaluation = update.evaluate(candidate.state, job: job, general: general, newDomainBaseLoss: base[k])
            ledger.decisions.append(UpdateDecision(evaluation, stabilityStop: candidate.stabilityStop, steps: candidate.steps))
            ledger.costs[d.name] = candidate.teacherCost
            if !gated, gatedFork == nil, evaluation.decision.action == .rollback {
                // The first rollback: the gated run keeps `state` and goes on from here.
                var fork = ledger
                let (losses, rows) = row(k, accepted: false, evaluation: evaluation, state: state)
                fork.matrix.append(domain: d.name, losses: losses)
                fork.perRow.append(rows)
                gatedFork = RunProgress(state: state, ledger: fork)
            }
            let accepted = !gated || evaluation.decision.action == .accept
            if accepted {
                state = candidate.state
                ledger.accept(k, reference: evaluation.newDomain.mean, domains: domains)
            }
            let (losses, rows) = row(k, accepted: accepted, evaluation: evaluation, state: state)
            ledger.matrix.append(domain: d.name, losses: losses)
            ledger.perRow.append(rows)
            onDomain(k, losses)
            try onState(k, state)
            try onProgress(RunProgress(state: state, ledger: ledger), gatedFork)
        }
        return Result(
            matrix: ledger.matrix, baseLosses: base, perRow: ledger.perRow, state: state,
            substrate: state.substrate(for: config.strategy), decisions: ledger.decisions, teacherCosts: ledger.costs,
            gatedFork: gatedFork)
    }
}

/// The gate's decision on one update, as the benchmark reports it: what crmad would have done.
public struct UpdateDecision: Sendable, Codable, Equatable {
    /// "accepted", "warned" (accepted with warnings) or "rolled_back".
    public var outcome: String
    public var domain: String
    public var reasons: [GateReason]
    /// Set when the mid-update stability check stopped training early.
    public var stabilityStop: StabilityStop?
    public var steps: Int

    public init(_ e: UpdateEvaluation, stabilityStop: StabilityStop?, steps: Int) {
        domain = e.domain
        reasons = e.decision.reasons
        outcome =
            e.decision.action == .rollback ? "rolled_back" : reasons.isEmpty ? "accepted" : "warned"
        self.stabilityStop = stabilityStop
        self.steps = steps
    }
}
