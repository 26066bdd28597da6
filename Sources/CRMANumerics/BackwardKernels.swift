/// Backward passes of the element-wise and row-wise kernels, over flat row-major Float32 buffers.
/// Each takes the forward's saved values (named as in the forward) and an upstream gradient, and
/// accumulates (`+=`) or writes the input gradient as its documentation says.
public enum BackwardKernels {
    public typealias V = SIMD16<Float>

    /// RMSNorm backward for `out = x · rstd · w` (w optional). Given `dOut[rows × dim]`, *adds* the input
    /// gradient into `dx`: `dx += rstd·(w⊙dOut − x̂ · mean(x̂ ⊙ w⊙dOut))`, where `x̂ = x·rstd`.
    public static func rmsNorm(
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, rstd: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
        rows: Int, dim: Int, dx: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let xr = x + r * dim, gr = dOut + r * dim, dr = dx + r * dim
            let s = rstd[r]
            // c = mean(x̂ ⊙ g'), g' = w ⊙ dOut
            var acc = V()
            var i = 0
            while i + 16 <= dim {
                var g = Kernels.load(gr + i)
                if let weight { g *= Kernels.load(weight + i) }
                acc += Kernels.load(xr + i) * g
                i += 16
            }
            var dotv = acc.sum()
            while i < dim { dotv += xr[i] * gr[i] * (weight?[i] ?? 1); i += 1 }
            let c = dotv * s * s / Float(dim)
            i = 0
            while i + 16 <= dim {
                var g = Kernels.load(gr + i)
                if let weight { g *= Kernels.load(weight + i) }
                let v = Kernels.load(dr + i) + s * (g - Kernels.load(xr + i) * c)
                Kernels.store(v, dr + i)
                i += 16
            }
            while i < dim {
                let g = gr[i] * (weight?[i] ?? 1)
                dr[i] += s * (g - xr[i] * c)
                i += 1
            }
        }
    }

    /// SwiGLU backward for `out[r, j] = silu(g)·u` with `gu = [g | u]` (`rows × 2F`). Writes
    /// `dGU[rows × 2F]` from `dOut[rows × F]`.
    public static func swiGLU(
        gu: UnsafePointer<Float>, dOut: UnsafePointer<Float>, rows: Int, ffn F: Int, dGU: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let g = gu + r * 2 * F, u = g + F, d = dOut + r * F
            let dg = dGU + r * 2 * F, du = dg + F
            var j = 0
            while j + 16 <= F {
                let gv = Kernels.load(g + j), uv = Kernels.load(u + j), dv = Kernels.load(d + j)
                let sig = 1 / (1 + FastMath.exp(-gv))
                let silu = gv * sig
                Kernels.store(dv * silu, du + j)
                // d silu/dg = sig · (1 + g·(1 − sig))
                Kernels.store(dv * uv * sig * (1 + gv * (1 - sig)), dg + j)
                j += 16
            }
            while j < F {
                let sig = 1 / (1 + FastMath.exp(-g[j]))
                du[j] = d[j] * g[j] * sig
                dg[j] = d[j] * u[j] * sig * (1 + g[j] * (1 - sig))
                j += 1
            }
        }
    }

    /// Softmax backward for one row of probabilities `p[n]`: `dScores = p ⊙ (dP − Σ p⊙dP)`, in place over `dP`.
    public static func softmaxRow(p: UnsafePointer<Float>, dP: UnsafeMutablePointer<Float>, n: Int) {
        let s = Kernels.dot(p, dP, n)
        var i = 0
        while i + 16 <= n {
            Kernels.store(Kernels.load(p + i) * (Kernels.load(dP + i) - s), dP + i)
            i += 16
        }
        while i < n { dP[i] = p[i] * (dP[i] - s); i += 1 }
    }
}
