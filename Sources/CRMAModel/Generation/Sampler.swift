import CRMANumerics
import Foundation

/// How the next token is chosen from logits.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (0 = all).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches `topP` (1 = all).
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingParameters()
}

/// A seeded sampler (SplitMix64), so the same seed gives the same text.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: SeededRandom

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SeededRandom(seed: parameters.seed)
    }

    mutating func nextUniform() -> Double { rng.uniform(0, 1) }

    /// Picks a token id from one row of `vocab` logits.
    public mutating func sample(_ logits: UnsafePointer<Float>, vocab: Int) -> Int32 {
        if parameters.temperature <= 0 {
            var best = 0
            for i in 1..<vocab where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        let t = parameters.temperature
        let m = Kernels.max(logits, vocab)
        var candidates: [(id: Int, p: Double)] = (0..<vocab).map { ($0, Foundation.exp(Double((logits[$0] - m) / t))) }
        candidates.sort { $0.p > $1.p }
        if parameters.topK > 0 { candidates = Array(candidates.prefix(parameters.topK)) }
        var total = candidates.reduce(0) { $0 + $1.p }
        if parameters.topP < 1 {
            var acc = 0.0, keep = 0
            for c in candidates {
                acc += c.p / total
                keep += 1
                if acc >= Double(parameters.topP) { break }
            }
            candidates = Array(candidates.prefix(keep))
            total = candidates.reduce(0) { $0 + $1.p }
        }
        var u = nextUniform() * total
        for c in candidates {
            u -= c.p
            if u <= 0 { return Int32(c.id) }
        }
        return Int32(candidates.last!.id)
    }
}
