/// A register-blocked single-precision GEMM in Swift for the attention's small products (head
/// dimension 64, a few hundred keys). OpenBLAS is faster on large products, but its results depend on
/// its global thread count, and splitting attention across cores needs single-threaded GEMMs; toggling
/// that global setting would make training non-reproducible whenever another thread scores
/// concurrently. This kernel's result depends only on its inputs.
///
/// Row-major. `C[m×n] = alpha · op(A)·B (+ C when accumulate)`, with `B` `k×n` read row by row.
public enum SmallGemm {
    public typealias V = SIMD16<Float>

    /// `C = alpha·A·B`, `A` is `m×k`.
    @inlinable
    public static func nn(
        m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false
    ) {
        kernel(
            m: m, n: n, k: k, alpha: alpha, a: a, rowStride: lda, depthStride: 1, b: b, ldb: ldb, c: c, ldc: ldc,
            accumulate: accumulate)
    }

    /// `C = alpha·Aᵀ·B`, `A` is `k×m`.
    @inlinable
    public static func tn(
        m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false
    ) {
        kernel(
            m: m, n: n, k: k, alpha: alpha, a: a, rowStride: 1, depthStride: lda, b: b, ldb: ldb, c: c, ldc: ldc,
            accumulate: accumulate)
    }

    /// `out[cols × rows] = xᵀ` for `x[rows × cols]` with row stride `ld`.
    @inlinable
    public static func transpose(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into out: UnsafeMutablePointer<Float>
    ) {
        for j in 0..<rows { for q in 0..<cols { out[q * rows + j] = x[j * ld + q] } }
    }

    /// Element (i, p) of A is at `a[i·rowStride + p·depthStride]`. Blocks of 6 rows × 16 columns keep 12
    /// of AVX2's 16 vector registers as accumulators, the rest for a row of B and a broadcast (4 × 32 spilled:
    /// 59 vs 79 GFLOP/s on one core at 60 × 256 × 64). Every element is the same chain of multiply-adds
    /// over p whatever the block, so the result does not depend on the blocking.
    @inlinable
    static func kernel(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int,
        b: UnsafePointer<Float>,
        ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let n16 = n - n % 16
        var i0 = 0
        while i0 + 6 <= m {
            var j0 = 0
            while j0 < n16 {
                var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
                for p in 0..<k {
                    let bv = load(b + p * ldb + j0)
                    let ap = a + i0 * rowStride + p * depthStride
                    c0 += V(repeating: ap[0]) * bv
                    c1 += V(repeating: ap[rowStride]) * bv
                    c2 += V(repeating: ap[2 * rowStride]) * bv
                    c3 += V(repeating: ap[3 * rowStride]) * bv
                    c4 += V(repeating: ap[4 * rowStride]) * bv
                    c5 += V(repeating: ap[5 * rowStride]) * bv
                }
                let cp = c + i0 * ldc + j0
                write(c0, cp, alpha, accumulate)
                write(c1, cp + ldc, alpha, accumulate)
                write(c2, cp + 2 * ldc, alpha, accumulate)
                write(c3, cp + 3 * ldc, alpha, accumulate)
                write(c4, cp + 4 * ldc, alpha, accumulate)
                write(c5, cp + 5 * ldc, alpha, accumulate)
                j0 += 16
            }
            i0 += 6
        }
        // Remaining rows: four at a time (64 = 10 × 6 + 4), then one at a time.
        while i0 + 4 <= m {
            var j0 = 0
            while j0 < n16 {
                var c0 = V(), c1 = V(), c2 = V(), c3 = V()
                for p in 0..<k {
                    let bv = load(b + p * ldb + j0)
                    let ap = a + i0 * rowStride + p * depthStride
                    c0 += V(repeating: ap[0]) * bv
                    c1 += V(repeating: ap[rowStride]) * bv
                    c2 += V(repeating: ap[2 * rowStride]) * bv
                    c3 += V(repeating: ap[3 * rowStride]) * bv
                }
                let cp = c + i0 * ldc + j0
                write(c0, cp, alpha, accumulate)
                write(c1, cp + ldc, alpha, accumulate)
                write(c2, cp + 2 * ldc, alpha, accumulate)
                write(c3, cp + 3 * ldc, alpha, accumulate)
                j0 += 16
            }
            i0 += 4
        }
        while i0 < m {
            var j0 = 0
            while j0 < n16 {
                var c0 = V()
                for p in 0..<k { c0 += V(repeating: a[i0 * rowStride + p * depthStride]) * load(b + p * ldb + j0) }
                write(c0, c + i0 * ldc + j0, alpha, accumulate)
                j0 += 16
            }
            i0 += 1
        }
        // Remaining columns, one at a time.
        if n16 < n {
            for i in 0..<m {
                for j in n16..<n {
                    var s: Float = 0
                    for p in 0..<k { s += a[i * rowStride + p * depthStride] * b[p * ldb + j] }
                    c[i * ldc + j] = accumulate ? c[i * ldc + j] + alpha * s : alpha * s
                }
            }
        }
    }

    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inlinable @inline(__always)
    static func write(_ v: V, _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ accumulate: Bool) {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: accumulate ? raw.loadUnaligned(as: V.self) + alpha * v : alpha * v, as: V.self)
    }
}
