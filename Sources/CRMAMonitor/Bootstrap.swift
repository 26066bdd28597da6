import CRMANumerics
import Foundation

/// A holdout document's score: summed negative log-likelihood and token count.
public struct DocumentLoss: Sendable, Equatable, Codable {
    public var sumNLL: Double
    public var tokens: Int
    public init(sumNLL: Double, tokens: Int) {
        self.sumNLL = sumNLL
        self.tokens = tokens
    }
}

/// A 95% percentile interval.
public struct Interval: Sendable, Equatable, Codable {
    public var low: Double
    public var high: Double

    public init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }
}

/// Bootstrap confidence intervals over holdout documents: documents are resampled with replacement
/// (the same indices for both scores, since they are the same documents), and the drift is recomputed
/// from token-weighted means each time.
public enum Bootstrap {
    /// 95% interval of `100 · (L_after − L_reference) / L_reference` where each L is the token-mean
    /// loss over the resampled documents. `reference[i]` and `after[i]` score the same document.
    public static func driftInterval(
        reference: [DocumentLoss], after: [DocumentLoss], samples: Int = 1000, seed: UInt64 = 0
    ) -> Interval {
        precondition(reference.count == after.count && !reference.isEmpty)
        var rng = SeededRandom(seed: seed)
        func next() -> UInt64 { rng.next() }
        let n = reference.count
        var drifts: [Double] = []
        drifts.reserveCapacity(samples)
        for _ in 0..<samples {
            var rN = 0.0, aN = 0.0, tokens = 0
            for _ in 0..<n {
                let i = Int(next() % UInt64(n))
                rN += reference[i].sumNLL
                aN += after[i].sumNLL
                tokens += reference[i].tokens
            }
            guard tokens > 0 else { continue }
            let r = rN / Double(tokens), a = aN / Double(tokens)
            drifts.append(100 * (a - r) / r)
        }
        return percentileInterval(drifts)
    }

    /// 95% interval of `mean(after) − mean(reference)` over paired items resampled together (e.g. an
    /// answer's correctness, 1 or 0, before and after an update: the change in accuracy).
    public static func differenceInterval(
        reference: [Double], after: [Double], samples: Int = 1000, seed: UInt64 = 0
    ) -> Interval {
        precondition(reference.count == after.count && !reference.isEmpty)
        var rng = SeededRandom(seed: seed)
        let n = reference.count
        var diffs: [Double] = []
        diffs.reserveCapacity(samples)
        for _ in 0..<samples {
            var sum = 0.0
            for _ in 0..<n {
                let i = Int(rng.next() % UInt64(n))
                sum += after[i] - reference[i]
            }
            diffs.append(sum / Double(n))
        }
        return percentileInterval(diffs)
    }

    static func percentileInterval(_ values: [Double]) -> Interval {
        let v = values.sorted()
        func q(_ p: Double) -> Double { v[min(v.count - 1, max(0, Int((p * Double(v.count - 1)).rounded())))] }
        return Interval(low: q(0.025), high: q(0.975))
    }
}
