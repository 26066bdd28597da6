import CRMAContinual
import CRMAModel
import CRMAMonitor
import CRMATraining

/// Where a ``ContinualRun`` stands after its first ``next`` updates: the state the next update builds on
/// and the bookkeeping of every update so far. A run can start from one: after an interruption (the
/// benchmark saves it after every update), or a gated run from the ungated run's first rollback
/// (``ContinualRun/Result/gatedFork``).
public struct RunProgress {
    /// The state in force after the last update done (the last accepted one when gated).
    public var state: LearnedState
    public var ledger: Ledger

    public init(state: LearnedState = .empty, ledger: Ledger = Ledger()) {
        self.state = state
        self.ledger = ledger
    }

    /// The update the run continues with.
    public var next: Int { ledger.matrix.updates }

    /// Everything but the state, as plain values (saved as JSON beside the state's adapter file). Domains
    /// are named by their update's index in the run's domain list, so the rows they stand for (holdout,
    /// replay) are taken from that list again, not stored.
    public struct Ledger: Sendable, Codable, Equatable {
        /// A domain learned and kept: its update and its holdout loss right after it (the drift reference).
        public struct Learned: Sendable, Codable, Equatable {
            public var update: Int
            public var reference: Double
        }
        /// The domains the state holds, in the order learned.
        public var learned: [Learned] = []
        public var matrix = LossMatrix()
        /// `perRow[k][j]`: per-row holdout losses of domain j after update k.
        public var perRow: [[[DocumentLoss]]] = []
        public var decisions: [UpdateDecision] = []
        public var costs: [String: TeacherCost] = [:]

        public init() {}

        /// The learned domains as the update pipeline takes them.
        func learnedDomains(_ domains: [DomainData], strategy: Strategy) -> [LearnedDomain] {
            learned.map {
                LearnedDomain(
                    name: domains[$0.update].name, strategy: strategy, holdout: domains[$0.update].holdout,
                    reference: $0.reference)
            }
        }

        /// Records that update `k` was accepted: its domain replaces any earlier one of the same name.
        mutating func accept(_ k: Int, reference: Double, domains: [DomainData]) {
            learned.removeAll { domains[$0.update].name == domains[k].name }
            learned.append(Learned(update: k, reference: reference))
        }

        /// replay: the training rows update `k` draws from, as crmad chooses them
        /// (``DomainUpdate/replaySources(learned:learning:)``), in the order learned.
        func replayRows(_ k: Int, _ domains: [DomainData]) -> [PackedRow] {
            let sources = Set(
                DomainUpdate.replaySources(learned: learned.map { domains[$0.update].name }, learning: domains[k].name))
            return learned.filter { sources.contains(domains[$0.update].name) }.flatMap { domains[$0.update].train }
        }
    }
}
