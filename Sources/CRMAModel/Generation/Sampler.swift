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
        if parameters.temperature <= 0 { return Self.argmax(logits, vocab) }
        let (candidates, total) = truncated(logits, vocab)
        return Int32(candidates[draw(candidates, total: total)].id)
    }

    /// Draws allowed before sampling among every allowed token of the vocabulary.
    static let constrainedDraws = 32

    /// Picks a token id among those `allowed` accepts, as if the others had probability 0; nil when it
    /// accepts none. The likeliest tokens are asked first (greedy: in order; sampling: drawn, a refused one
    /// taken out and the draw repeated), so a model that keeps to the constraint costs one question a
    /// token; after ``constrainedDraws`` refusals every token is asked and one drawn among the allowed
    /// (top_p and top_k no longer apply then).
    public mutating func sample(_ logits: UnsafePointer<Float>, vocab: Int, allowed: (Int32) -> Bool) -> Int32? {
        if parameters.temperature <= 0 {
            let best = Self.argmax(logits, vocab)
            if allowed(best) { return best }
            let order = (0..<vocab).sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            return order.first { allowed(Int32($0)) }.map(Int32.init)
        }
        var (candidates, total) = truncated(logits, vocab)
        for _ in 0..<Self.constrainedDraws where !candidates.isEmpty && total > 0 {
            let pick = draw(candidates, total: total)
            let id = Int32(candidates[pick].id)
            if allowed(id) { return id }
            total -= candidates[pick].p
            candidates.remove(at: pick)
        }
        let t = parameters.temperature
        let m = Kernels.max(logits, vocab)
        let all: [(id: Int, p: Double)] = (0..<vocab).filter { allowed(Int32($0)) }.map {
            ($0, Foundation.exp(Double((logits[$0] - m) / t)))
        }
        guard !all.isEmpty else { return nil }
        return Int32(all[draw(all, total: all.reduce(0) { $0 + $1.p })].id)
    }

    static func argmax(_ logits: UnsafePointer<Float>, _ vocab: Int) -> Int32 {
        var best = 0
        for i in 1..<vocab where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    /// The tokens sampling draws from, likeliest first, after top_k and top_p, with their unnormalized
    /// probabilities and total.
    private func truncated(_ logits: UnsafePointer<Float>, _ vocab: Int) -> (candidates: [(id: Int, p: Double)], total: Double) {
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
        return (candidates, total)
    }

    /// The index of one candidate drawn by probability.
    private mutating func draw(_ candidates: [(id: Int, p: Double)], total: Double) -> Int {
        var u = nextUniform() * total
        for (i, c) in candidates.enumerated() {
            u -= c.p
            if u <= 0 { return i }
        }
        return candidates.count - 1
    }
}
