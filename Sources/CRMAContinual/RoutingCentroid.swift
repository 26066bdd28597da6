import CRMAModel
import CRMANumerics
import CRMATraining

/// What a domain's requests look like to the base model: the mean of its training prompts' embeddings
/// (each the base model's final hidden states averaged over the prompt's tokens, scaled to unit length).
/// Computed when a domain is learned, kept with the version (``LearnedState/routing``), and compared with a
/// request's embedding by ``DomainRouter``.
public enum RoutingCentroid {
    /// Rows embedded per domain (the first ones: the training rows are in a fixed order).
    public static let rows = 64

    /// The unit-length mean of `tokens`' final hidden states under the base model.
    public static func embedding(model: LlamaModel, tokens: [Int32]) -> [Float] {
        let ids = Array(tokens.prefix(model.config.contextLength))
        guard !ids.isEmpty else { return [Float](repeating: 0, count: model.config.hiddenSize) }
        let d = model.config.hiddenSize
        let h = model.hiddenStates(tokens: ids, batch: 1, seqLen: ids.count)
        var mean = [Float](repeating: 0, count: d)
        for t in 0..<ids.count { Kernels.add(h.pointer + t * d, into: &mean, d) }
        return unit(mean)
    }

    /// The prompt of a packed training row's first example: the tokens before its first loss target (a
    /// prompt → completion example's prompt); for text trained on whole, the row's first document (its
    /// first segment, without the padding). ``isPrompt`` tells which.
    public static func prompt(of row: PackedRow) -> (tokens: [Int32], isPrompt: Bool) {
        let first = row.targets.firstIndex { $0 >= 0 } ?? row.tokens.count
        if first >= 1 { return (Array(row.tokens[...min(first, row.tokens.count - 1)]), true) }
        let segment = row.segmentStarts.first ?? 0
        let end = row.segmentStarts.firstIndex { $0 != segment } ?? row.tokens.count
        return (zip(row.tokens[..<end], row.targets[..<end]).filter { $0.1 >= 0 }.map(\.0), false)
    }

    /// How much of the `i`-th text example a routing example keeps: a quarter, half, three quarters or all
    /// of it, in turn. A request to a domain learned from text (or to no domain) is usually the beginning of
    /// such a text, so the examples span prefix lengths rather than whole documents only.
    static func prefixFraction(_ i: Int) -> Double { Double(i % 4 + 1) / 4 }

    /// The first `fraction` of `tokens` (at least 4 tokens, or all of them).
    static func prefix(_ tokens: [Int32], fraction: Double) -> [Int32] {
        Array(tokens.prefix(max(4, Int((Double(tokens.count) * fraction).rounded(.up)))))
    }

    /// The embeddings of a domain's first ``rows`` training rows' prompts, one after another (`[n × hidden]`):
    /// whole prompts of prompt → completion examples, prefixes of 1/4 to all of text documents.
    public static func examples(model: LlamaModel, rows: [PackedRow]) -> [Float] {
        rows.prefix(Self.rows).enumerated().flatMap { i, row in
            let (tokens, isPrompt) = prompt(of: row)
            return embedding(model: model, tokens: isPrompt ? tokens : prefix(tokens, fraction: prefixFraction(i)))
        }
    }

    /// The unit-length mean of flat `[n × dimension]` embeddings.
    public static func centroid(examples: [Float], dimension d: Int) -> [Float] {
        var sum = [Float](repeating: 0, count: d)
        for i in stride(from: 0, to: examples.count, by: d) {
            examples.withUnsafeBufferPointer { Kernels.add($0.baseAddress! + i, into: &sum, d) }
        }
        return unit(sum)
    }

    /// Embeddings of text that belongs to no domain, for the classifier's "no domain" class: prefixes (1/4 to
    /// all, in turn) of the first 300 characters of each of the first ``rows`` `documents` (what the daemon's
    /// general benchmarks read).
    public static func generalExamples(model: LlamaModel, tokenizer: Tokenizer, documents: [String]) -> [Float] {
        documents.prefix(Self.rows).enumerated().flatMap { i, doc in
            let tokens = tokenizer.encode(String(doc.prefix(generalPrefix)))
            return embedding(model: model, tokens: prefix(tokens, fraction: prefixFraction(i)))
        }
    }

    /// Characters of a general document a "no domain" example reads.
    public static let generalPrefix = 300

    static func unit(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }

    /// Cosine similarity of two unit vectors.
    public static func similarity(_ a: [Float], _ b: [Float]) -> Float {
        Kernels.dot(a, b, min(a.count, b.count))
    }
}
