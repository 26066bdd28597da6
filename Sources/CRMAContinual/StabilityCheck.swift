import CRMATraining

/// Every `interval` steps of an update, score the first `sliceRows` holdout rows of each earlier domain;
/// if any drifts by more than `criticalPercent` from that same slice's loss before the update (under the
/// parent), stop the update. The gate then judges the candidate on every row.
public struct StabilityCheck: Sendable, Equatable, Codable {
    public var interval = 0
    public var sliceRows = 2
    public var criticalPercent = 10.0
    public init(interval: Int = 0, sliceRows: Int = 2, criticalPercent: Double = 10) {
        self.interval = interval
        self.sliceRows = sliceRows
        self.criticalPercent = criticalPercent
    }
}

extension StabilityCheck {
    /// One earlier domain's holdout slice and its loss on exactly those rows before the update.
    public struct Slice {
        public var domain: String
        public var rows: [PackedRow]
        public var reference: Double
        public init(domain: String, rows: [PackedRow], reference: Double) {
            self.domain = domain
            self.rows = rows
            self.reference = reference
        }
    }

    /// The first slice (in the order given) whose loss now, `score(slice)`, drifted above
    /// `criticalPercent` from its reference; nil when every slice is within it.
    public func firstUnstable(_ slices: [Slice], step: Int, score: (Slice) -> Double) -> StabilityStop? {
        for s in slices where !s.rows.isEmpty {
            let drift = 100 * (score(s) - s.reference) / s.reference
            if !drift.isFinite || drift > criticalPercent { return StabilityStop(step: step, domain: s.domain, driftPercent: drift) }
        }
        return nil
    }
}

/// An update stopped early by the stability check.
public struct StabilityStop: Sendable, Equatable, Codable {
    /// Steps taken before stopping.
    public var step: Int
    /// The earlier domain whose slice drifted, and by how much (percent).
    public var domain: String
    public var driftPercent: Double

    public init(step: Int, domain: String, driftPercent: Double) {
        self.step = step
        self.domain = domain
        self.driftPercent = driftPercent
    }
}
