import Foundation
import CRMANumerics

/// A multinomial logistic regression over request embeddings (``RoutingCentroid/embedding(model:tokens:)``):
/// one class per learned domain plus one for text no domain was learned from. Fitted from examples in a
/// fixed number of full-batch gradient steps from zero weights, so the same examples always give the same
/// classifier; features are standardized first (their mean and spread over the examples).
///
/// Measured on the task domains (docs/results/routing-…): it tells medical, science and finance questions
/// apart where the nearest centroid confuses them, and it learns what general text looks like instead of
/// relying on a similarity threshold.
public struct RoutingClassifier: Sendable {
    public let classes: Int
    public let features: Int
    /// `[features × classes]`, then `[classes]`.
    let weights: [Float]
    let bias: [Float]
    let mean: [Float]
    let inverseSpread: [Float]

    /// L2 penalty, steps and step size of the fit (chosen on the task domains; the fit is convex, so
    /// they set how close to the optimum it gets, not which optimum).
    public static let penalty: Float = 0.01
    public static let steps = 500
    public static let stepSize: Float = 0.1

    /// Fits a classifier to `examples[c]` (each a list of embeddings of class `c`).
    /// - Precondition: at least two classes, each with at least one example, all of one length.
    public init(examples: [[[Float]]]) {
        precondition(examples.count >= 2 && examples.allSatisfy { !$0.isEmpty }, "two classes with examples at least")
        let k = examples.count, d = examples[0][0].count
        let rows = examples.flatMap { $0 }
        precondition(rows.allSatisfy { $0.count == d }, "embeddings of one length")
        let labels = examples.enumerated().flatMap { c, xs in [Int](repeating: c, count: xs.count) }
        let n = rows.count
        // Standardize each feature.
        var mean = [Float](repeating: 0, count: d), spread = [Float](repeating: 0, count: d)
        for x in rows { for j in 0..<d { mean[j] += x[j] / Float(n) } }
        for x in rows { for j in 0..<d { spread[j] += (x[j] - mean[j]) * (x[j] - mean[j]) / Float(n) } }
        let inverse = spread.map { 1 / ($0.squareRoot() + 1e-6) }
        var X = [Float](repeating: 0, count: n * d)
        for (i, x) in rows.enumerated() { for j in 0..<d { X[i * d + j] = (x[j] - mean[j]) * inverse[j] } }

        var W = [Float](repeating: 0, count: d * k), b = [Float](repeating: 0, count: k)
        var Z = [Float](repeating: 0, count: n * k), G = [Float](repeating: 0, count: d * k)
        for _ in 0..<Self.steps {
            // Z = X·W + b, then softmax − one-hot, averaged.
            BLAS.sgemm(m: n, n: k, k: d, a: X, lda: d, b: W, ldb: k, c: &Z, ldc: k)
            var db = [Float](repeating: 0, count: k)
            for i in 0..<n {
                var top = -Float.infinity
                for c in 0..<k { Z[i * k + c] += b[c]; top = max(top, Z[i * k + c]) }
                var sum: Float = 0
                for c in 0..<k { Z[i * k + c] = Foundation.exp(Z[i * k + c] - top); sum += Z[i * k + c] }
                for c in 0..<k { Z[i * k + c] /= sum }
                Z[i * k + labels[i]] -= 1
                for c in 0..<k { Z[i * k + c] /= Float(n); db[c] += Z[i * k + c] }
            }
            // G = Xᵀ·Z + λW
            BLAS.sgemm(transA: true, m: d, n: k, k: n, a: X, lda: d, b: Z, ldb: k, c: &G, ldc: k)
            for j in 0..<(d * k) { W[j] -= Self.stepSize * (G[j] + Self.penalty * W[j]) }
            for c in 0..<k { b[c] -= Self.stepSize * db[c] }
        }
        classes = k
        features = d
        weights = W
        bias = b
        self.mean = mean
        inverseSpread = inverse
    }

    /// Each class's score (a logit) for `embedding`; the highest wins.
    public func scores(_ embedding: [Float]) -> [Float] {
        precondition(embedding.count == features, "embedding of \(embedding.count) features, fitted on \(features)")
        var s = bias
        for j in 0..<features {
            let x = (embedding[j] - mean[j]) * inverseSpread[j]
            for c in 0..<classes { s[c] += x * weights[j * classes + c] }
        }
        return s
    }

    /// The class with the highest score (the first on a tie).
    public func classify(_ embedding: [Float]) -> Int {
        let s = scores(embedding)
        return s.indices.max { s[$0] < s[$1] || (s[$0] == s[$1] && $0 > $1) }!
    }
}
