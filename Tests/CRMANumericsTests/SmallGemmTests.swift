import Testing
@testable import CRMANumerics

@Suite struct SmallGemmTests {
    func random(_ n: Int, _ seed: Int) -> [Float] {
        (0..<n).map { Float((($0 &* 2_654_435_761 &+ seed) % 2001) - 1000) / 1000 }
    }

    /// Checks both modes (A and Aᵀ) against BLAS, on shapes with row and column tails.
    @Test(arguments: [(5, 70, 9), (4, 32, 64), (13, 64, 130), (1, 3, 2), (6, 16, 1), (64, 272, 64)])
    func matchesBLAS(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let a = random(m * k, 1), at = random(k * m, 2), b = random(k * n, 3)
        var c0 = random(m * n, 5)
        var c1 = c0
        BLAS.sgemm(m: m, n: n, k: k, alpha: 0.5, a: a, lda: k, b: b, ldb: n, beta: 1, c: &c0, ldc: n)
        SmallGemm.nn(m: m, n: n, k: k, alpha: 0.5, a: a, lda: k, b: b, ldb: n, c: &c1, ldc: n, accumulate: true)
        #expect(zip(c0, c1).allSatisfy { abs($0 - $1) < 1e-4 })
        BLAS.sgemm(transA: true, m: m, n: n, k: k, a: at, lda: m, b: b, ldb: n, c: &c0, ldc: n)
        SmallGemm.tn(m: m, n: n, k: k, a: at, lda: m, b: b, ldb: n, c: &c1, ldc: n)
        #expect(zip(c0, c1).allSatisfy { abs($0 - $1) < 1e-4 })
    }
}
