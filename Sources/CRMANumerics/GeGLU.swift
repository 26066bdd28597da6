/// GeGLU, Gemma's gated feed-forward activation: `out = gelu_tanh(gate) · up`, with the tanh approximation
/// of GELU, `gelu_tanh(g) = ½·g·(1 + tanh(√(2/π)·(g + 0.044715·g³)))` (transformers' `gelu_pytorch_tanh`).
/// Laid out as ``Kernels/swiGLU(_:rows:ffn:into:)``: `gu` is `rows × 2F`, gate then up.
extension FastMath {
    /// `tanh(x) = 1 − 2 / (e^{2x} + 1)`, from the clamped ``exp(_:)-swift.type.method`` (exact ±1 in the tails).
    @inlinable @inline(__always)
    public static func tanh(_ x: V) -> V { 1 - 2 / (exp(2 * x) + 1) }
}

extension Kernels {
    /// `x = cap · tanh(x / cap)` in place (Gemma 2's soft-capping of attention scores and logits).
    public static func softcap(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
        var i = 0
        let inv = 1 / cap
        while i + 16 <= count {
            store(cap * FastMath.tanh(load(x + i) * inv), x + i)
            i += 16
        }
        while i < count { x[i] = cap * FastMath.tanh(V(repeating: x[i] * inv))[0]; i += 1 }
    }
}

extension Kernels {
    @usableFromInline static let geluC0: Float = 0.7978845608028654  // √(2/π)
    @usableFromInline static let geluC1: Float = 0.044715

    public static func geGLU(_ gu: UnsafePointer<Float>, rows: Int, ffn F: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let g = gu + r * 2 * F, u = g + F, o = out + r * F
            var j = 0
            while j + 16 <= F {
                let x = load(g + j)
                let inner: V = geluC0 * (x + geluC1 * x * x * x)
                let gelu: V = 0.5 * x * (1 + FastMath.tanh(inner))
                store(gelu * load(u + j), o + j)
                j += 16
            }
            while j < F {
                let x = g[j]
                let t = FastMath.tanh(V(repeating: geluC0 * (x + geluC1 * x * x * x)))[0]
                o[j] = 0.5 * x * (1 + t) * u[j]
                j += 1
            }
        }
    }
}

extension BackwardKernels {
    /// GeGLU backward: writes `dGU[rows × 2F]` (gate then up) from `dOut[rows × F]`.
    public static func geGLU(
        gu: UnsafePointer<Float>, dOut: UnsafePointer<Float>, rows: Int, ffn F: Int, dGU: UnsafeMutablePointer<Float>
    ) {
        let c0 = Kernels.geluC0, c1 = Kernels.geluC1
        func lanes(_ x: Kernels.V, _ u: Kernels.V, _ d: Kernels.V) -> (dg: Kernels.V, du: Kernels.V) {
            let x2: Kernels.V = x * x
            let inner: Kernels.V = c0 * (x + c1 * x2 * x)
            let t = FastMath.tanh(inner)
            let onePlusT: Kernels.V = 1 + t
            let gelu: Kernels.V = 0.5 * x * onePlusT
            // d gelu/dx = ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)
            let dInner: Kernels.V = c0 * (1 + (3 * c1) * x2)
            let sech2: Kernels.V = 1 - t * t
            let slope: Kernels.V = 0.5 * onePlusT + 0.5 * x * sech2 * dInner
            return (d * u * slope, d * gelu)
        }
        for r in 0..<rows {
            let g = gu + r * 2 * F, u = g + F, d = dOut + r * F
            let dg = dGU + r * 2 * F, du = dg + F
            var j = 0
            while j + 16 <= F {
                let (a, b) = lanes(Kernels.load(g + j), Kernels.load(u + j), Kernels.load(d + j))
                Kernels.store(a, dg + j)
                Kernels.store(b, du + j)
                j += 16
            }
            while j < F {
                let (a, b) = lanes(Kernels.V(repeating: g[j]), Kernels.V(repeating: u[j]), Kernels.V(repeating: d[j]))
                dg[j] = a[0]
                du[j] = b[0]
                j += 1
            }
        }
    }
}

extension ParallelKernels {
    /// Row-parallel ``Kernels/geGLU(_:rows:ffn:into:)``.
    public static func geGLU(_ gu: UnsafePointer<Float>, rows: Int, ffn F: Int, into out: UnsafeMutablePointer<Float>) {
        let gp = SendablePointer(UnsafeMutablePointer(mutating: gu)), op = SendablePointer(out)
        Parallel.rows(rows, minRows: 4) { r in
            Kernels.geGLU(gp.p + r.lowerBound * 2 * F, rows: r.count, ffn: F, into: op.p + r.lowerBound * F)
        }
    }

    /// Row-parallel ``BackwardKernels/geGLU(gu:dOut:rows:ffn:dGU:)``.
    public static func geGLUBackward(
        gu: UnsafePointer<Float>, dOut: UnsafePointer<Float>, rows: Int, ffn F: Int, dGU: UnsafeMutablePointer<Float>
    ) {
        let gp = SendablePointer(UnsafeMutablePointer(mutating: gu)),
            op = SendablePointer(UnsafeMutablePointer(mutating: dOut))
        let dp = SendablePointer(dGU)
        Parallel.rows(rows, minRows: 4) { r in
            BackwardKernels.geGLU(
                gu: gp.p + r.lowerBound * 2 * F, dOut: op.p + r.lowerBound * F, rows: r.count, ffn: F,
                dGU: dp.p + r.lowerBound * 2 * F)
        }
    }
}
