import COpenBLAS

/// Thin, typed wrappers over OpenBLAS. Every matrix multiply in the runtime goes through here.
///
/// Row-major throughout. `C[m×n] = alpha · op(A) · op(B) + beta · C`, where `op(A)` is `m×k`.
public enum BLAS {
    /// Sets the number of OpenBLAS worker threads, and of the bf16 path's (process-wide).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(n))
        BF16.setThreads(n)
    }

    /// The number of OpenBLAS worker threads in use.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The CPU kernel OpenBLAS selected (e.g. "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Single-precision GEMM. `transA`/`transB` say whether A/B are stored transposed.
    @inlinable
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y = x · Wᵀ` for a linear layer with weight `W[out×in]` (PyTorch layout) and input `x[rows×in]`.
    @inlinable
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, weight: UnsafePointer<Float>, outFeatures: Int,
        into y: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        if rows == 1 {
            // One row (decoding): a matrix-vector product, which only streams the weights.
            cblas_sgemv(
                CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), 1, weight, Int32(inFeatures), x, 1,
                accumulate ? 1 : 0, y, 1)
            return
        }
        sgemm(
            transB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: weight, ldb: inFeatures,
            beta: accumulate ? 1 : 0, c: y, ldc: outFeatures)
    }
}
