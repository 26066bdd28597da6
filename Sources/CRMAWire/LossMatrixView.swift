/// The loss matrix as the control API shows it: one row per accepted version on the active lineage
/// (oldest first), one column per domain, with drift against each domain's loss when it was learned.
/// `GET /v1/matrix` sends it.
public struct LossMatrixView: Sendable, Codable, Equatable {
    /// One version of the chain: the domain it learned and each domain's holdout loss under it.
    public struct Row: Sendable, Codable, Equatable {
        public var version: Int64
        public var learned: String?
        public var losses: [String: Double]
        /// 100 · (loss − loss when learned) / loss when learned.
        public var driftPercent: [String: Double]

        public init(version: Int64, learned: String?, losses: [String: Double], driftPercent: [String: Double]) {
            self.version = version
            self.learned = learned
            self.losses = losses
            self.driftPercent = driftPercent
        }
    }

    public var domains: [String]
    public var rows: [Row]

    public init(domains: [String], rows: [Row]) {
        self.domains = domains
        self.rows = rows
    }

    /// The view of `versions` (every version, as the registry lists them): the active version's chain of
    /// parents back to the base model.

    public static func build(_ versions: [VersionRecord]) -> LossMatrixView {
        let byID = Dictionary(uniqueKeysWithValues: versions.map { ($0.id, $0) })
        var chain: [VersionRecord] = []
        var cursor = versions.first { $0.active }
        while let v = cursor, v.state != "base" {
            chain.insert(v, at: 0)
            cursor = v.parentID.flatMap { byID[$0] }
        }
        var domains: [String] = []
        for v in chain { if let d = v.domain, !domains.contains(d) { domains.append(d) } }
        let rows = chain.map { v in
            var drift: [String: Double] = [:]
            for (d, l) in v.losses { if let r = v.references[d], r > 0 { drift[d] = 100 * (l - r) / r } }
            return Row(version: v.id, learned: v.domain, losses: v.losses, driftPercent: drift)
        }
        return LossMatrixView(domains: domains, rows: rows)
    }
}
