import CRMAModel

/// One packed row: `seqLen` positions holding pieces of one or more documents.
public struct PackedRow: Sendable, Equatable, Codable {
    public var tokens: [Int32]
    public var targets: [Int32]
    public var positions: [Int32]
    public var segmentStarts: [Int32]
}

/// Packs documents into fixed-length rows. A document longer than a row is cut into windows of
/// `seqLen` tokens overlapping by one, so every token after the first is predicted exactly once;
/// pieces are placed greedily in order, each attending only to itself (positions restart at 0), and the
/// last token of a piece predicts nothing, so no target ever crosses a document boundary.
public struct SequencePacker: Sendable {
    public let seqLen: Int
    /// Token used to fill the unused tail of a row (never a target, never attended by real tokens).
    public let padToken: Int32

    public init(seqLen: Int, padToken: Int32) {
        precondition(seqLen >= 2)
        self.seqLen = seqLen
        self.padToken = padToken
    }

    /// Pieces of at most `seqLen` tokens, each with its targets (−1 where no loss is taken).
    public func pieces(of doc: TokenizedDocument) -> [(tokens: ArraySlice<Int32>, targets: [Int32])] {
        guard doc.tokens.count >= 2 else { return [] }
        var out: [(ArraySlice<Int32>, [Int32])] = []
        var start = 0
        while start < doc.tokens.count - 1 {
            let end = min(start + seqLen, doc.tokens.count)
            let toks = doc.tokens[start..<end]
            var targets = [Int32](repeating: -1, count: toks.count)
            for i in 0..<(toks.count - 1) where doc.lossMask[start + i + 1] { targets[i] = doc.tokens[start + i + 1] }
            out.append((toks, targets))
            start = end - 1
        }
        return out
    }

    public func pack(_ docs: [TokenizedDocument]) -> [PackedRow] {
        var rows: [PackedRow] = []
        var row = emptyRow()
        var used = 0
        func flush() {
            if used > 0 {
                for i in used..<seqLen {
                    row.tokens[i] = padToken
                    row.positions[i] = Int32(i - used)
                    row.segmentStarts[i] = Int32(used)
                }
                rows.append(row)
            }
            row = emptyRow()
            used = 0
        }
        for doc in docs {
            for (toks, targets) in pieces(of: doc) where targets.contains(where: { $0 >= 0 }) {
                if used + toks.count > seqLen { flush() }
                for (k, t) in toks.enumerated() {
                    row.tokens[used + k] = t
                    row.targets[used + k] = targets[k]
                    row.positions[used + k] = Int32(k)
                    row.segmentStarts[used + k] = Int32(used)
                }
                used += toks.count
            }
        }
        flush()
        return rows
    }

    func emptyRow() -> PackedRow {
        PackedRow(
            tokens: [Int32](repeating: padToken, count: seqLen), targets: [Int32](repeating: -1, count: seqLen),
            positions: [Int32](repeating: 0, count: seqLen), segmentStarts: [Int32](repeating: 0, count: seqLen))
    }

    /// A training batch of rows.
    public static func batch(_ rows: [PackedRow]) -> TrainingBatch {
        TrainingBatch(
            batch: rows.count, seqLen: rows[0].tokens.count, tokens: rows.flatMap(\.tokens),
            targets: rows.flatMap(\.targets),
            positions: rows.flatMap(\.positions), segmentStarts: rows.flatMap(\.segmentStarts))
    }
}
