import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMATraining

/// Runs domains in order with one strategy and fills the loss matrix: after update k, every learned
/// domain j ≤ k is scored with the adapters the strategy assigns to it.
public struct ContinualRun {
    public let model: LlamaModel
    public let config: ContinualConfig

    public init(model: LlamaModel, config: ContinualConfig) {
        self.model = model
        self.config = config
    }

    public struct Result {
        public var matrix: LossMatrix
        /// Holdout loss of each domain under the base model (before any update).
        public var baseLosses: [Double]
        /// `perRow[k][j]`: per-row holdout losses of domain j after update k (for bootstrap intervals).
        public var perRow: [[[DocumentLoss]]]
        /// The substrate after the last update (for the general benchmarks).
        public var substrate: AdapterSet
        /// lwf: what the teacher cost per domain.
        public var teacherCosts: [String: TeacherCost]
    }

    /// `onDomain(k, losses)` runs after update k is scored.
    /// The base model's holdout loss of each domain (the same for every strategy and seed).
    public static func baseLosses(model: LlamaModel, domains: [DomainData]) -> [Double] {
        domains.map { HoldoutScorer.score(model: model, adapters: AdapterSet(), rows: $0.holdout).mean }
    }

    /// `baseLosses`: pass ``baseLosses(model:domains:)`` when running several strategies on the same
    /// domains, so the base model is scored once.
    public func run(
        _ domains: [DomainData], baseLosses: [Double]? = nil, onStep: ((String, StepReport) -> Void)? = nil,
        onDomain: (Int, [Double]) -> Void = { _, _ in }
    ) throws -> Result {
        let learner = ContinualLearner(model: model, config: config)
        let base = baseLosses ?? Self.baseLosses(model: model, domains: domains)
        var matrix = LossMatrix()
        var perRow: [[[DocumentLoss]]] = []
        for (k, d) in domains.enumerated() {
            try learner.learn(d) { onStep?(d.name, $0) }
            var losses: [Double] = []
            var rows: [[DocumentLoss]] = []
            for j in 0...k {
                let s = HoldoutScorer.score(
                    model: model, adapters: learner.adapters(evaluating: domains[j].name), rows: domains[j].holdout)
                losses.append(s.mean)
                rows.append(s.perRow)
            }
            matrix.append(domain: d.name, losses: losses)
            perRow.append(rows)
            onDomain(k, losses)
        }
        return Result(
            matrix: matrix, baseLosses: base, perRow: perRow, substrate: learner.substrate(),
            teacherCosts: learner.teacherCosts)
    }
}
