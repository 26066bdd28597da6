/// The loss matrix of a continual-learning run (crma.md §7): `L[k][j]` is the token-mean cross-entropy
/// on domain `j`'s holdout after update `k`, defined for `j ≤ k`. Domains are indexed in the order
/// they were learned.
public struct LossMatrix: Sendable, Equatable, Codable {
    public private(set) var domains: [String]
    /// `rows[k][j]` for `j ≤ k`.
    public private(set) var rows: [[Double]]

    public init() {
        domains = []
        rows = []
    }

    /// Records update `k = domains.count`: the new domain's name and the losses of every domain
    /// `0…k` (earlier ones first, the new domain last).
    public mutating func append(domain: String, losses: [Double]) {
        precondition(losses.count == domains.count + 1, "update \(domains.count) needs \(domains.count + 1) losses")
        domains.append(domain)
        rows.append(losses)
    }

    public var updates: Int { rows.count }

    public subscript(k: Int, j: Int) -> Double {
        precondition(j <= k && k < rows.count)
        return rows[k][j]
    }
}

/// The metrics of crma.md §7, each a pure function of the loss matrix. Percentages are 100 × relative
/// changes; positive drift means forgetting.
public enum ForgettingMetrics {
    /// The paper's drift: `100 · (L[k][j] − L[j][j]) / L[j][j]`.
    public static func driftVsLearnTime(_ m: LossMatrix, k: Int, j: Int) -> Double {
        100 * (m[k, j] - m[j, j]) / m[j, j]
    }

    /// `100 · (L[k][j] − L[k−1][j]) / L[k−1][j]`, for `j < k`.
    public static func driftVsPrevious(_ m: LossMatrix, k: Int, j: Int) -> Double {
        precondition(j < k)
        return 100 * (m[k, j] - m[k - 1, j]) / m[k - 1, j]
    }

    /// Mean drift vs learn time over the prior domains `j < k` (nil after the first update).
    public static func averageDrift(_ m: LossMatrix, k: Int) -> Double? {
        guard k > 0 else { return nil }
        return (0..<k).map { driftVsLearnTime(m, k: k, j: $0) }.reduce(0, +) / Double(k)
    }

    /// Backward transfer on loss: −(average drift).
    public static func backwardTransfer(_ m: LossMatrix, k: Int) -> Double? { averageDrift(m, k: k).map { -$0 } }

    /// Chaudhry forgetting on loss: `L[k][j] − min over l in [j, k) of L[l][j]`, for `j < k` (nats).
    public static func chaudhryForgetting(_ m: LossMatrix, k: Int, j: Int) -> Double {
        precondition(j < k)
        return m[k, j] - (j..<k).map { m[$0, j] }.min()!
    }

    /// CRMA-over-frozen advantage after the last update T: `100 · mean over j < T of
    /// (L_frozen[T][j] − L_crma[T][j]) / L_frozen[T][j]`. Positive: crma's earlier domains score better.
    public static func advantage(frozen: LossMatrix, crma: LossMatrix) -> Double? {
        precondition(frozen.domains == crma.domains, "both runs must learn the same domains in the same order")
        let T = frozen.updates - 1
        guard T > 0 else { return nil }
        return (0..<T).map { 100 * (frozen[T, $0] - crma[T, $0]) / frozen[T, $0] }.reduce(0, +) / Double(T)
    }
}
