import CRMAAdapters
import CRMANumerics

/// O-LoRA's orthogonality penalty (Wang et al. 2023): the new domain's LoRA is pushed to read its input
/// through a subspace orthogonal to every earlier LoRA's, `λ · Σ_i Σ_(layer, projection) ‖A_i A_kᵀ‖²_F`,
/// with `A[rank × in]` in PEFT's layout (the rows span the input subspace the LoRA reads). The earlier
/// LoRAs are frozen; only the new one's A receives the gradient `2λ · Σ_i (A_k A_iᵀ) A_i`.
public struct OrthogonalSubspacePenalty {
    public let lambda: Float
    public let earlier: [LoRA]
    public let current: LoRA

    public init(lambda: Float, earlier: [LoRA], current: LoRA) {
        self.lambda = lambda
        self.earlier = earlier
        self.current = current
    }

    /// Adds the penalty's gradient into the current LoRA's A gradients; returns the penalty.
    @discardableResult
    public func apply() -> Double {
        guard lambda != 0 else { return 0 }
        return Double(lambda) * sumOfSquaredOverlaps(addingGradientTimes: 2 * lambda)
    }

    /// `Σ ‖A_i A_kᵀ‖²_F` without λ: how much the current LoRA's input subspace overlaps the earlier ones.
    public func overlap() -> Double { sumOfSquaredOverlaps(addingGradientTimes: nil) }

    /// `Σ_i Σ_(layer, projection) ‖A_i A_kᵀ‖²_F`, in a fixed order; with a factor `g`, also adds
    /// `g · (A_k A_iᵀ) A_i` into each `A_k`'s gradient.
    private func sumOfSquaredOverlaps(addingGradientTimes g: Float?) -> Double {
        var sum = 0.0
        let rk = current.config.rank
        let prod = FloatBuffer(count: rk * (earlier.map(\.config.rank).max() ?? 0))
        for layer in 0..<current.a.count {
            for p in current.config.targets {
                guard let ak = current.a[layer][p] else { continue }
                let inF = ak.shape[1]
                for old in earlier {
                    guard let ai = old.a[layer][p], ai.shape[1] == inF else { continue }
                    let ri = ai.shape[0]
                    // P = A_k A_iᵀ  [rk × ri]
                    BLAS.sgemm(
                        transB: true, m: rk, n: ri, k: inF, a: ak.value.pointer, lda: inF, b: ai.value.pointer,
                        ldb: inF, c: prod.pointer, ldc: ri)
                    for i in 0..<(rk * ri) { sum += Double(prod[i] * prod[i]) }
                    if let g {
                        // dA_k += g · P A_i
                        BLAS.sgemm(
                            m: rk, n: inF, k: ri, alpha: g, a: prod.pointer, lda: ri, b: ai.value.pointer, ldb: inF,
                            beta: 1, c: ak.grad.pointer, ldc: inF)
                    }
                }
            }
        }
        return sum
    }
}
