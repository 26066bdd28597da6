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
    /// prompt → completion example's prompt); for text trained on whole, the row's tokens that carry a target
    /// (its text without the padding).
    public static func prompt(of row: PackedRow) -> [Int32] {
        let first = row.targets.firstIndex { $0 >= 0 } ?? row.tokens.count
        if first >= 1 { return Array(row.tokens[...min(first, row.tokens.count - 1)]) }
        return zip(row.tokens, row.targets).filter { $0.1 >= 0 }.map(\.0)
    }

    /// The centroid of a domain's first ``rows`` training rows' prompts.
    public static func centroid(model: LlamaModel, rows: [PackedRow]) -> [Float] {
        centroid(examples: examples(model: model, rows: rows), dimension: model.config.hiddenSize)
    }

    /// The embeddings of a domain's first ``rows`` training rows' prompts, one after another (`[n × hidden]`).
    public static func examples(model: LlamaModel, rows: [PackedRow]) -> [Float] {
        rows.prefix(Self.rows).flatMap { embedding(model: model, tokens: prompt(of: $0)) }
    }

    /// The unit-length mean of flat `[n × dimension]` embeddings.
    public static func centroid(examples: [Float], dimension d: Int) -> [Float] {
        var sum = [Float](repeating: 0, count: d)
        for i in stride(from: 0, to: examples.count, by: d) {
            examples.withUnsafeBufferPointer { Kernels.add($0.baseAddress! + i, into: &sum, d) }
        }
        return unit(sum)
    }

    /// Embeddings of text that belongs to no domain, for the classifier's "no domain" class: the first
    /// 300 characters of each of the first ``rows`` `documents` (what the daemon's general benchmarks read).
    public static func generalExamples(model: LlamaModel, tokenizer: Tokenizer, documents: [String]) -> [Float] {
        documents.prefix(Self.rows).flatMap {
            embedding(model: model, tokens: tokenizer.encode(String($0.prefix(generalPrefix))))
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
