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
