/// A batch for the differentiable forward pass: `batch` rows of `seqLen` tokens, each row possibly packed
/// with several documents that never attend to each other.
public struct TrainingBatch: Sendable, Equatable {
    public let batch: Int
    public let seqLen: Int
    /// `[batch·seqLen]` input ids.
    public var tokens: [Int32]
    /// `[batch·seqLen]` the id to predict at each position, or −1 where no loss is taken.
    public var targets: [Int32]
    /// `[batch·seqLen]` rotary position of each token (restarts at 0 for each packed document).
    public var positions: [Int32]
    /// `[batch·seqLen]` index within its row where the token's document starts: the token attends to
    /// positions `segmentStart…itself` only.
    public var segmentStarts: [Int32]

    public init(batch: Int, seqLen: Int, tokens: [Int32], targets: [Int32], positions: [Int32], segmentStarts: [Int32])
    {
        precondition(tokens.count == batch * seqLen && targets.count == tokens.count)
        precondition(positions.count == tokens.count && segmentStarts.count == tokens.count)
        self.batch = batch
        self.seqLen = seqLen
        self.tokens = tokens
        self.targets = targets
        self.positions = positions
        self.segmentStarts = segmentStarts
    }

    /// One document per row: next-token targets, positions from 0, no packing. Each row of `rows` must
    /// have `seqLen + 1` tokens (inputs plus the final target).
    public static func causal(_ rows: [[Int32]], seqLen: Int) -> TrainingBatch {
        var tokens: [Int32] = [], targets: [Int32] = [], positions: [Int32] = [], starts: [Int32] = []
        for r in rows {
            precondition(r.count == seqLen + 1, "each row needs seqLen + 1 tokens")
            tokens += r[..<seqLen]
            targets += r[1...]
            positions += (0..<seqLen).map(Int32.init)
            starts += [Int32](repeating: 0, count: seqLen)
        }
        return TrainingBatch(
            batch: rows.count, seqLen: seqLen, tokens: tokens, targets: targets, positions: positions,
            segmentStarts: starts)
    }

    /// One sequence read for its hidden states only (no targets), positions from 0.
    public static func unscored(_ tokens: [Int32]) -> TrainingBatch {
        TrainingBatch(
            batch: 1, seqLen: tokens.count, tokens: tokens, targets: [Int32](repeating: -1, count: tokens.count),
            positions: (0..<tokens.count).map(Int32.init), segmentStarts: [Int32](repeating: 0, count: tokens.count))
    }

    /// Tokens that carry a loss.
    public var lossTokenCount: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}
