import Foundation

/// Sinkhorn normalization in log space (crma.md §2): `K` rounds of row then column log-normalization,
/// ending on the column step, so `M = exp(Z)` has unit column sums exactly and unit row sums to within
/// the convergence of `K` rounds. Computed in Float64 (the matrix is n×n, n ≈ 4).
public struct Sinkhorn: Sendable {
    public let n: Int
    public let iterations: Int
    /// The doubly stochastic matrix, row-major `[n × n]`.
    public let matrix: [Double]
    /// After each row step (`Y_k`) and each column step (`Z_k`), for the unrolled backward pass.
    let rowSteps: [[Double]]
    let columnSteps: [[Double]]

    public init(logits: [Double], n: Int, iterations: Int) {
        precondition(logits.count == n * n && iterations >= 1)
        self.n = n
        self.iterations = iterations
        var z = logits
        var ys: [[Double]] = [], zs: [[Double]] = []
        for _ in 0..<iterations {
            for i in 0..<n {
                let lse = Self.logSumExp((0..<n).map { z[i * n + $0] })
                for j in 0..<n { z[i * n + j] -= lse }
            }
            ys.append(z)
            for j in 0..<n {
                let lse = Self.logSumExp((0..<n).map { z[$0 * n + j] })
                for i in 0..<n { z[i * n + j] -= lse }
            }
            zs.append(z)
        }
        rowSteps = ys
        columnSteps = zs
        matrix = z.map { Foundation.exp($0) }
    }

    /// d loss / d logits from d loss / d M, differentiating through every unrolled step.
    /// The result has zero row sums (the first operation is a row normalization).
    public func backward(_ dM: [Double]) -> [Double] {
        var dZ = (0..<(n * n)).map { dM[$0] * matrix[$0] }
        for k in stride(from: iterations - 1, through: 0, by: -1) {
            // Column step: Z = Y − lse_col(Y), Q = exp(Z):  dY = dZ − Q ⊙ colsum(dZ)
            let q = columnSteps[k].map { Foundation.exp($0) }
            var dY = dZ
            for j in 0..<n {
                let s = (0..<n).reduce(0.0) { $0 + dZ[$1 * n + j] }
                for i in 0..<n { dY[i * n + j] -= q[i * n + j] * s }
            }
            // Row step: Y = Z − lse_row(Z), P = exp(Y):  dZ = dY − P ⊙ rowsum(dY)
            let p = rowSteps[k].map { Foundation.exp($0) }
            for i in 0..<n {
                let s = (0..<n).reduce(0.0) { $0 + dY[i * n + $1] }
                for j in 0..<n { dZ[i * n + j] = dY[i * n + j] - p[i * n + j] * s }
            }
        }
        return dZ
    }

    /// Largest deviation of any row or column sum from 1.
    public var marginError: Double { Self.marginError(matrix, n: n) }

    /// ‖M‖₂ (largest singular value), by power iteration on MᵀM.
    public var spectralNorm: Double { Self.spectralNorm(matrix, n: n) }

    public static func marginError(_ m: [Double], n: Int) -> Double {
        var worst = 0.0
        for i in 0..<n {
            worst = max(worst, abs((0..<n).reduce(0.0) { $0 + m[i * n + $1] } - 1))
            worst = max(worst, abs((0..<n).reduce(0.0) { $0 + m[$1 * n + i] } - 1))
        }
        return worst
    }

    public static func spectralNorm(_ m: [Double], n: Int) -> Double {
        var v = (0..<n).map { 1 + Double($0) * 0.1 }
        var sigma = 0.0
        for _ in 0..<200 {
            // w = Mᵀ(M v)
            let mv = (0..<n).map { i in (0..<n).reduce(0.0) { $0 + m[i * n + $1] * v[$1] } }
            let w = (0..<n).map { j in (0..<n).reduce(0.0) { $0 + m[$1 * n + j] * mv[$1] } }
            let norm = w.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { return 0 }
            v = w.map { $0 / norm }
            sigma = norm.squareRoot()
        }
        return sigma
    }

    static func logSumExp(_ x: [Double]) -> Double {
        let m = x.max()!
        return m + Foundation.log(x.reduce(0.0) { $0 + Foundation.exp($1 - m) })
    }
}
