import Testing
@testable import CRMANumerics

@Suite struct SkinnyGemmTests {
    func random(_ n: Int, _ seed: Int) -> [Float] {
        (0..<n).map { Float((($0 &* 2_654_435_761 &+ seed) % 2001) - 1000) / 1000 }
    }

    /// Equal within float rounding of sums of `terms` products of numbers in [-1, 1].
    func close(_ a: [Float], _ b: [Float], terms: Int) -> Bool {
        zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * Float(terms) * (1 + abs($0)) }
    }

    /// Each product against BLAS, with strided activations, ranks that are and are not multiples of four
    /// and widths with and without a tail of fewer than 16 columns.
    @Test(arguments: [(1, 3, 1), (7, 70, 3), (64, 576, 8), (300, 200, 4), (33, 17, 13), (128, 1536, 16)])
    func matchesBLAS(shape: (Int, Int, Int)) {
        let (rows, k, r) = shape
        let ldx = k + 5
        let x = random(rows * ldx, 1), w = random(r * k, 2), u = random(rows * r, 3)
        // down: out = 0.5 · x·wᵀ
        var expected = [Float](repeating: 0, count: rows * r), got = expected
        BLAS.sgemm(transB: true, m: rows, n: r, k: k, alpha: 0.5, a: x, lda: ldx, b: w, ldb: k, c: &expected, ldc: r)
        SkinnyGemm.down(rows: rows, k: k, r: r, alpha: 0.5, x: x, ldx: ldx, w: w, into: &got)
        #expect(close(expected, got, terms: k))
        // up: y += 2 · u·w, and y = u·w
        let y0 = random(rows * ldx, 4)
        var yExpected = y0, yGot = y0
        BLAS.sgemm(m: rows, n: k, k: r, alpha: 2, a: u, lda: r, b: w, ldb: k, beta: 1, c: &yExpected, ldc: ldx)
        SkinnyGemm.up(rows: rows, k: k, r: r, alpha: 2, u: u, w: w, into: &yGot, ldy: ldx, accumulate: true)
        #expect(close(yExpected, yGot, terms: r))
        BLAS.sgemm(m: rows, n: k, k: r, a: u, lda: r, b: w, ldb: k, c: &yExpected, ldc: ldx)
        SkinnyGemm.up(rows: rows, k: k, r: r, u: u, w: w, into: &yGot, ldy: ldx, accumulate: false)
        #expect(close(yExpected, yGot, terms: r))
        // upTransposed: y += 2 · u·wTᵀ with wT = [k × r]
        let wT = random(k * r, 6)
        yExpected = y0
        yGot = y0
        BLAS.sgemm(transB: true, m: rows, n: k, k: r, alpha: 2, a: u, lda: r, b: wT, ldb: r, beta: 1, c: &yExpected, ldc: ldx)
        SkinnyGemm.upTransposed(rows: rows, k: k, r: r, alpha: 2, u: u, wT: wT, into: &yGot, ldy: ldx)
        #expect(close(yExpected, yGot, terms: r))
        // accumulateOuter: g += 0.25 · uᵀ·x
        let g0 = random(r * k, 5)
        var gExpected = g0, gGot = g0
        BLAS.sgemm(
            transA: true, m: r, n: k, k: rows, alpha: 0.25, a: u, lda: r, b: x, ldb: ldx, beta: 1, c: &gExpected,
            ldc: k)
        SkinnyGemm.accumulateOuter(rows: rows, k: k, r: r, alpha: 0.25, u: u, x: x, ldx: ldx, into: &gGot)
        #expect(close(gExpected, gGot, terms: rows))
    }

    /// The result does not depend on how the work is split over the cores: rows computed alone (which run
    /// inline, on one core) equal the same rows computed in one parallel call, bit for bit, and a weight
    /// gradient summed over all rows in one call equals its column blocks summed by separate calls.
    @Test func independentOfTheSplit() {
        let rows = 1024, k = 576, r = 8
        let x = random(rows * k, 6), w = random(r * k, 7), u = random(rows * r, 8)
        var whole = [Float](repeating: 0, count: rows * r)
        SkinnyGemm.down(rows: rows, k: k, r: r, x: x, ldx: k, w: w, into: &whole)
        var yWhole = [Float](repeating: 0, count: rows * k)
        SkinnyGemm.up(rows: rows, k: k, r: r, u: u, w: w, into: &yWhole, ldy: k, accumulate: false)
        for i in [0, 1, 511, 1023] {
            var one = [Float](repeating: 0, count: r)
            x.withUnsafeBufferPointer { SkinnyGemm.down(rows: 1, k: k, r: r, x: $0.baseAddress! + i * k, ldx: k, w: w, into: &one) }
            #expect(one == Array(whole[(i * r)..<((i + 1) * r)]))
            var y = [Float](repeating: 0, count: k)
            u.withUnsafeBufferPointer { SkinnyGemm.up(rows: 1, k: k, r: r, u: $0.baseAddress! + i * r, w: w, into: &y, ldy: k, accumulate: false) }
            #expect(y == Array(yWhole[(i * k)..<((i + 1) * k)]))
        }
        var g = [Float](repeating: 0, count: r * k)
        SkinnyGemm.accumulateOuter(rows: rows, k: k, r: r, u: u, x: x, ldx: k, into: &g)
        var byBlocks = [Float](repeating: 0, count: r * k)
        for c in stride(from: 0, to: k, by: 16) {
            var block = [Float](repeating: 0, count: r * 16)
            x.withUnsafeBufferPointer {
                SkinnyGemm.accumulateOuter(rows: rows, k: 16, r: r, u: u, x: $0.baseAddress! + c, ldx: k, into: &block)
            }
            for j in 0..<r { for t in 0..<16 { byBlocks[j * k + c + t] = block[j * 16 + t] } }
        }
        #expect(g == byBlocks)
    }
}
