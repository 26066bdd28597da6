import CRMANumerics
import CRMAAdapters

/// Where the trainer is in its data: epoch and row index within the epoch's seeded permutation. Saved
/// in checkpoints so a resumed run reads exactly the rows an uninterrupted one would.
public struct BatchCursor: Sendable, Equatable, Codable {
    public var epoch = 0
    public var index = 0
    public init() {}
}

/// Serves batches of packed rows in a seeded order, reshuffled every epoch.
public struct BatchSampler: Sendable {
    public let rows: [PackedRow]
    public let batchSize: Int
    public let seed: UInt64
    public var cursor = BatchCursor()
    private var order: [Int] = []

    public init(rows: [PackedRow], batchSize: Int, seed: UInt64) {
        precondition(!rows.isEmpty && batchSize >= 1)
        self.rows = rows
        self.batchSize = batchSize
        self.seed = seed
        order = Self.permutation(rows.count, seed: seed, epoch: 0)
    }

    static func permutation(_ n: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = SeededRandom(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9)
        var p = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            p.swapAt(i, j)
        }
        return p
    }

    /// Restores a saved position.
    public mutating func seek(_ c: BatchCursor) {
        cursor = c
        order = Self.permutation(rows.count, seed: seed, epoch: c.epoch)
    }

    public mutating func next() -> [PackedRow] {
        var out: [PackedRow] = []
        while out.count < batchSize {
            if cursor.index >= rows.count {
                cursor.epoch += 1
                cursor.index = 0
                order = Self.permutation(rows.count, seed: seed, epoch: cursor.epoch)
            }
            out.append(rows[order[cursor.index]])
            cursor.index += 1
        }
        return out
    }
}
