import CRMANumerics

/// Finite-difference checks of gradients along random directions (float32: central differences, so the
/// caller's tolerance should be around 1e-2; see the model's GradientCheckTests).
public enum DirectionalCheck {
    /// For each of `directions` seeded random directions over `values`: the relative error between the
    /// analytic directional derivative (`grads` · direction, the gradients already computed at `values`)
    /// and `(loss(+eps) − loss(−eps)) / 2eps`. `values` are restored afterwards.
    public static func errors(
        values: [FloatBuffer], grads: [FloatBuffer], directions: Int = 3, seed: UInt64, eps: Float = 1e-3,
        loss: () -> Double
    ) -> [Double] {
        var rng = SeededRandom(seed: seed)
        var errors: [Double] = []
        let originals = values.map(\.array)
        for _ in 0..<directions {
            let dirs = values.map { v in (0..<v.count).map { _ in Float(rng.uniform(-1, 1)) } }
            func shift(_ sign: Float) {
                for (k, v) in values.enumerated() {
                    for i in 0..<v.count { v[i] = originals[k][i] + sign * eps * dirs[k][i] }
                }
            }
            shift(1)
            let plus = loss()
            shift(-1)
            let minus = loss()
            shift(0)
            let numeric = (plus - minus) / Double(2 * eps)
            var analytic = 0.0
            for (k, g) in grads.enumerated() { for i in 0..<g.count { analytic += Double(g[i] * dirs[k][i]) } }
            errors.append(abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-6))
        }
        return errors
    }
}
