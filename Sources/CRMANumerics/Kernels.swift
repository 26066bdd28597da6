import RealModule

/// Element-wise and row-wise kernels of the transformer over flat Float32 buffers, row-major.
/// Shapes are spelled out in each signature; loops run over raw pointers (subscripting arrays inside
/// hot loops is 50× slower, engineering-notes.md).
public enum Kernels {
    public typealias V = SIMD16<Float>

    /// RMSNorm: `out[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) * weight`, for `rows × dim`.
    /// `rstd` (optional, `rows`) receives the reciprocal RMS of each row, for the backward pass.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, rows: Int, dim: Int, eps: Float,
        into out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        for r in 0..<rows {
            let xr = x + r * dim, yr = out + r * dim
            let ss = sumOfSquares(xr, dim)
            let s = 1 / (ss / Float(dim) + eps).squareRoot()
            rstd?[r] = s
            if let weight {
                var i = 0
                while i + 16 <= dim {
                    store(load(xr + i) * s * load(weight + i), yr + i)
                    i += 16
                }
                while i < dim { yr[i] = xr[i] * s * weight[i]; i += 1 }
            } else {
                for i in 0..<dim { yr[i] = xr[i] * s }
            }
        }
    }

    /// Σ x[i]² with several vector accumulators.
    @inlinable
    public static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = V(), a1 = V()
        var i = 0
        while i + 32 <= n {
            let u = load(x + i), w = load(x + i + 16)
            a0 += u * u
            a1 += w * w
            i += 32
        }
        var s = (a0 + a1).sum()
        while i < n { s += x[i] * x[i]; i += 1 }
        return s
    }

    /// Dot product of two length-`n` vectors.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = V(), a1 = V()
        var i = 0
        while i + 32 <= n {
            a0 += load(x + i) * load(y + i)
            a1 += load(x + i + 16) * load(y + i + 16)
            i += 32
        }
        var s = (a0 + a1).sum()
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }

    /// SwiGLU: for each row r, `out[r, j] = silu(gu[r, j]) * gu[r, F + j]`, where `gu` is `rows × 2F`
    /// (gate then up, as one fused projection) and `out` is `rows × F`.
    public static func swiGLU(_ gu: UnsafePointer<Float>, rows: Int, ffn F: Int, into out: UnsafeMutablePointer<Float>)
    {
        for r in 0..<rows {
            let g = gu + r * 2 * F, u = g + F, o = out + r * F
            var j = 0
            while j + 16 <= F {
                let gv = load(g + j)
                let sig = 1 / (1 + FastMath.exp(-gv))
                store(gv * sig * load(u + j), o + j)
                j += 16
            }
            while j < F {
                let sig = 1 / (1 + FastMath.exp(-g[j]))
                o[j] = g[j] * sig * u[j]
                j += 1
            }
        }
    }

    /// In-place softmax over the first `n` entries of a row; entries `n..<width` are set to 0.
    public static func softmaxRow(_ x: UnsafeMutablePointer<Float>, n: Int, width: Int) {
        let m = max(x, n)
        var acc = V()
        var i = 0
        while i + 16 <= n {
            let e = FastMath.exp(load(x + i) - m)
            store(e, x + i)
            acc += e
            i += 16
        }
        var s = acc.sum()
        while i < n { let e = FastMath.exp(x[i] - m); x[i] = e; s += e; i += 1 }
        let inv = 1 / s
        i = 0
        while i + 16 <= n { store(load(x + i) * inv, x + i); i += 16 }
        while i < n { x[i] *= inv; i += 1 }
        for j in n..<width { x[j] = 0 }
    }

    /// In place: `x[i] = exp(x[i] − shift) · scale` (softmax from a log-sum-exp, scaled).
    public static func expShifted(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float, scale: Float) {
        var i = 0
        while i + 16 <= n { store(FastMath.exp(load(x + i) - shift) * scale, x + i); i += 16 }
        while i < n { x[i] = FastMath.exp(x[i] - shift) * scale; i += 1 }
    }

    /// log Σ exp(scale · x[i]) over a row of length `n`, stable; `scale` (> 0) is 1/T for a softmax at
    /// temperature T.
    public static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int, scale: Float = 1) -> Float {
        let m = max(x, n) * scale
        var acc = V()
        var i = 0
        while i + 16 <= n { acc += FastMath.exp(load(x + i) * scale - m); i += 16 }
        var s = Double(acc.sum())
        while i < n { s += Double(FastMath.exp(x[i] * scale - m)); i += 1 }
        return m + Float(Double.log(s))
    }

    /// Maximum of a row.
    @inlinable
    public static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var mv = V(repeating: -.infinity)
        var i = 0
        while i + 16 <= n {
            let v = load(x + i)
            mv.replace(with: v, where: v .> mv)
            i += 16
        }
        var m = mv.max()
        while i < n { if x[i] > m { m = x[i] }; i += 1 }
        return m
    }

    /// `y[i] += a · x[i]` for `n` entries.
    @inlinable
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        let av = V(repeating: a)
        var i = 0
        while i + 16 <= n { store(load(y + i) + av * load(x + i), y + i); i += 16 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// `y[i] += x[i]` for `n` entries.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store(load(y + i) + load(x + i), y + i); i += 16 }
        while i < n { y[i] += x[i]; i += 1 }
    }

    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inlinable @inline(__always)
    public static func load(_ p: UnsafeMutablePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inlinable @inline(__always)
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }
}
