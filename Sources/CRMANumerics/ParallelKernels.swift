/// Row-parallel versions of the element-wise kernels: rows are split across the cores.
public enum ParallelKernels {
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, rows: Int, dim: Int, eps: Float,
        into out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), op = SendablePointer(out)
        let wp = weight.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        let rp = rstd.map { SendablePointer($0) }
        Parallel.rows(rows) { r in
            Kernels.rmsNorm(
                xp.p + r.lowerBound * dim, weight: wp?.p, rows: r.count, dim: dim, eps: eps,
                into: op.p + r.lowerBound * dim,
                rstd: rp.map { $0.p + r.lowerBound })
        }
    }

    public static func swiGLU(_ gu: UnsafePointer<Float>, rows: Int, ffn F: Int, into out: UnsafeMutablePointer<Float>)
    {
        let gp = SendablePointer(UnsafeMutablePointer(mutating: gu)), op = SendablePointer(out)
        Parallel.rows(rows, minRows: 4) { r in
            Kernels.swiGLU(gp.p + r.lowerBound * 2 * F, rows: r.count, ffn: F, into: op.p + r.lowerBound * F)
        }
    }
}

extension ParallelKernels {
    /// Row-parallel ``BackwardKernels/rmsNorm(x:weight:rstd:dOut:rows:dim:dx:)`` (adds into `dx`).
    public static func rmsNormBackward(
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, rstd: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
        rows: Int, dim: Int, dx: UnsafeMutablePointer<Float>
    ) {
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)),
            rp = SendablePointer(UnsafeMutablePointer(mutating: rstd))
        let gp = SendablePointer(UnsafeMutablePointer(mutating: dOut)), dp = SendablePointer(dx)
        let wp = weight.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        Parallel.rows(rows) { r in
            let o = r.lowerBound * dim
            BackwardKernels.rmsNorm(
                x: xp.p + o, weight: wp?.p, rstd: rp.p + r.lowerBound, dOut: gp.p + o, rows: r.count, dim: dim,
                dx: dp.p + o)
        }
    }

    /// Row-parallel ``BackwardKernels/swiGLU(gu:dOut:rows:ffn:dGU:)``.
    public static func swiGLUBackward(
        gu: UnsafePointer<Float>, dOut: UnsafePointer<Float>, rows: Int, ffn F: Int, dGU: UnsafeMutablePointer<Float>
    ) {
        let gp = SendablePointer(UnsafeMutablePointer(mutating: gu)),
            op = SendablePointer(UnsafeMutablePointer(mutating: dOut))
        let dp = SendablePointer(dGU)
        Parallel.rows(rows, minRows: 4) { r in
            BackwardKernels.swiGLU(
                gu: gp.p + r.lowerBound * 2 * F, dOut: op.p + r.lowerBound * F, rows: r.count, ffn: F,
                dGU: dp.p + r.lowerBound * 2 * F)
        }
    }
}
