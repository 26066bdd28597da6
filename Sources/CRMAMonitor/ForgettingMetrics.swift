/// The metrics of crma.md §7, each a pure function of the loss matrix. Percentages are 100 × relative
/// changes; positive drift means forgetting.
public enum ForgettingMetrics {
    /// The paper's drift: `100 · (L[k][j] − L[j][j]) / L[j][j]`.
    public static func driftVsLearnTime(_ m: LossMatrix, k: Int, j: Int) -> Double {
        100 * (m[k, j] - m[j, j]) / m[j, j]
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
        advantage(frozen: frozen, crma: crma, after: { _ in frozen.updates - 1 })
    }

    /// The same comparison with each earlier domain taken right after it was learned: `100 · mean over
    /// j < T of (L_frozen[j][j] − L_crma[j][j]) / L_frozen[j][j]`. Since frozen never drifts, the advantage
    /// is about this (how much better crma learned those domains) minus crma's drift since (how much of it
    /// was kept).
    public static func learnTimeAdvantage(frozen: LossMatrix, crma: LossMatrix) -> Double? {
        advantage(frozen: frozen, crma: crma, after: { $0 })
    }

    /// `100 · mean over j < T of (L_frozen[k][j] − L_crma[k][j]) / L_frozen[k][j]` with `k = after(j)`.
    static func advantage(frozen: LossMatrix, crma: LossMatrix, after: (Int) -> Int) -> Double? {
        precondition(frozen.domains == crma.domains, "both runs must learn the same domains in the same order")
        let T = frozen.updates - 1
        guard T > 0 else { return nil }
        return (0..<T).map { j in
            let k = after(j)
            return 100 * (frozen[k, j] - crma[k, j]) / frozen[k, j]
        }.reduce(0, +) / Double(T)
    }
}
