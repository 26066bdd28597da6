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

    /// `C = alpha·A·Bᵀ`, `B` is `n×k`: transposes `B` into `scratch` (`k·n` floats) and runs `nn`.
    @inlinable
    public static func nt(
        m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false, scratch: UnsafeMutablePointer<Float>
    ) {
        transpose(b, rows: n, cols: k, ld: ldb, into: scratch)
        nn(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: scratch, ldb: n, c: c, ldc: ldc, accumulate: accumulate)
    }

    /// `out[cols × rows] = xᵀ` for `x[rows × cols]` with row stride `ld`.
    @inlinable
    public static func transpose(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into out: UnsafeMutablePointer<Float>
    ) {
        for j in 0..<rows { for q in 0..<cols { out[q * rows + j] = x[j * ld + q] } }
    }

    /// Element (i, p) of A is at `a[i·rowStride + p·depthStride]`.
    @inlinable
    static func kernel(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int,
        b: UnsafePointer<Float>,
        ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var j0 = 0
        // Blocks of 4 rows × 32 columns: 8 accumulators and 2 B vectors in registers.
        while j0 + 32 <= n {
            var i0 = 0
            while i0 + 4 <= m {
                var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
                for p in 0..<k {
                    let bp = b + p * ldb + j0
                    let b0 = load(bp), b1 = load(bp + 16)
                    let ap = a + i0 * rowStride + p * depthStride
                    let a0 = V(repeating: ap[0]), a1 = V(repeating: ap[rowStride])
                    let a2 = V(repeating: ap[2 * rowStride]), a3 = V(repeating: ap[3 * rowStride])
                    c00 += a0 * b0; c01 += a0 * b1
                    c10 += a1 * b0; c11 += a1 * b1
                    c20 += a2 * b0; c21 += a2 * b1
                    c30 += a3 * b0; c31 += a3 * b1
                }
                write(c00, c01, c + i0 * ldc + j0, alpha, accumulate)
                write(c10, c11, c + (i0 + 1) * ldc + j0, alpha, accumulate)
                write(c20, c21, c + (i0 + 2) * ldc + j0, alpha, accumulate)
                write(c30, c31, c + (i0 + 3) * ldc + j0, alpha, accumulate)
                i0 += 4
            }
            while i0 < m {
                var c0 = V(), c1 = V()
                for p in 0..<k {
                    let bp = b + p * ldb + j0
                    let av = V(repeating: a[i0 * rowStride + p * depthStride])
                    c0 += av * load(bp); c1 += av * load(bp + 16)
                }
                write(c0, c1, c + i0 * ldc + j0, alpha, accumulate)
                i0 += 1
            }
            j0 += 32
        }
        // Remaining columns, one at a time.
        if j0 < n {
            for i in 0..<m {
                for j in j0..<n {
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
    static func write(_ v0: V, _ v1: V, _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ accumulate: Bool) {
        let raw = UnsafeMutableRawPointer(p)
        if accumulate {
            raw.storeBytes(of: raw.loadUnaligned(as: V.self) + alpha * v0, as: V.self)
            raw.storeBytes(
                of: raw.loadUnaligned(fromByteOffset: 64, as: V.self) + alpha * v1, toByteOffset: 64, as: V.self)
        } else {
            raw.storeBytes(of: alpha * v0, as: V.self)
            raw.storeBytes(of: alpha * v1, toByteOffset: 64, as: V.self)
        }
    }
}
