import Testing
@testable import CRMAAdapters

@Suite struct SinkhornTests {
    let logits: [Double] = [2, 0.3, -1, 0.5, -0.2, 1.5, 0.1, 0, 0.7, -0.4, 2.2, 0.3, 0, 0.9, -1.3, 1.8]

    @Test func endsOnColumnsAndIsDoublyStochastic() {
        let s = Sinkhorn(logits: logits, n: 4, iterations: 20)
        for j in 0..<4 { #expect(abs((0..<4).reduce(0.0) { $0 + s.matrix[$1 * 4 + j] } - 1) < 1e-12) }
        #expect(s.marginError < 1e-6)
        #expect(s.spectralNorm <= 1 + 1e-9)
        #expect(s.spectralNorm >= 1 - 1e-6)  // a doubly stochastic matrix has ‖M‖₂ = 1 exactly
    }

    @Test func initialisationMatchesTheSpec() {
        // log_mix = 2·I gives 0.711 on the diagonal and 0.096 elsewhere (crma.md §2).
        let s = Sinkhorn(logits: (0..<16).map { $0 % 5 == 0 ? 2 : 0 }, n: 4, iterations: 20)
        #expect(abs(s.matrix[0] - 0.711) < 1e-3)
        #expect(abs(s.matrix[1] - 0.096) < 1e-3)
    }

    @Test func unrolledBackwardMatchesFiniteDifferences() {
        let s = Sinkhorn(logits: logits, n: 4, iterations: 20)
        let weights = (0..<16).map { Double(($0 * 7) % 5) - 2 }
        func loss(_ z: [Double]) -> Double {
            zip(Sinkhorn(logits: z, n: 4, iterations: 20).matrix, weights).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let grad = s.backward(weights)
        for i in 0..<16 {
            var p = logits, m = logits
            p[i] += 1e-6
            m[i] -= 1e-6
            #expect(abs((loss(p) - loss(m)) / 2e-6 - grad[i]) < 1e-6)
        }
        for r in 0..<4 { #expect(abs((0..<4).reduce(0.0) { $0 + grad[r * 4 + $1] }) < 1e-12) }
    }
}
