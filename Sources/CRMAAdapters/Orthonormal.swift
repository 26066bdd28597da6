import CRMANumerics

/// Orthonormal column bases for CRMA's read projection.
enum Orthonormal {
    /// In place: makes the `n` columns of `q[d × n]` (row-major) orthonormal by modified Gram–Schmidt
    /// in Float64 (the thin Q of a QR factorisation, with columns' signs kept).
    static func orthonormalizeColumns(_ q: UnsafeMutablePointer<Float>, d: Int, n: Int) {
        var cols = (0..<n).map { j in (0..<d).map { Double(q[$0 * n + j]) } }
        for j in 0..<n {
            for k in 0..<j {
                let dotv = zip(cols[j], cols[k]).reduce(0.0) { $0 + $1.0 * $1.1 }
                for i in 0..<d { cols[j][i] -= dotv * cols[k][i] }
            }
            let norm = cols[j].reduce(0.0) { $0 + $1 * $1 }.squareRoot()
            for i in 0..<d { cols[j][i] /= max(norm, 1e-30) }
        }
        for j in 0..<n { for i in 0..<d { q[i * n + j] = Float(cols[j][i]) } }
    }

    /// The `n` leading left singular vectors of `w[d × f]` (row-major), by subspace iteration on `w·wᵀ`
    /// from a seeded Gaussian start: the directions the block writes into the residual stream.
    static func leadingLeftSingularVectors(
        _ w: UnsafePointer<Float>, d: Int, f: Int, n: Int, seed: UInt64, into q: UnsafeMutablePointer<Float>
    ) {
        let c = FloatBuffer(count: d * d)
        BLAS.sgemm(transB: true, m: d, n: d, k: f, a: w, lda: f, b: w, ldb: f, c: c.pointer, ldc: d)
        randomOrthonormal(d: d, n: n, seed: seed, into: q)
        let next = FloatBuffer(count: d * n)
        for _ in 0..<60 {
            BLAS.sgemm(m: d, n: n, k: d, a: c.pointer, lda: d, b: q, ldb: n, c: next.pointer, ldc: n)
            orthonormalizeColumns(next.pointer, d: d, n: n)
            q.update(from: next.pointer, count: d * n)
        }
    }

    /// Orthonormal columns from a seeded Gaussian (the fallback initialisation).
    static func randomOrthonormal(d: Int, n: Int, seed: UInt64, into q: UnsafeMutablePointer<Float>) {
        var rng = SeededRandom(seed: seed)
        for i in 0..<(d * n) { q[i] = Float(rng.normal()) }
        orthonormalizeColumns(q, d: d, n: n)
    }
}
