import CRMANumerics

/// Keys and values of past positions, for incremental decoding of one sequence.
public final class KVCache {
    public let capacity: Int
    /// Positions already stored.
    public internal(set) var length = 0
    /// Per layer `[capacity × kvHeads·headDim]`.
    let keys: [FloatBuffer]
    let values: [FloatBuffer]

    public init(config: LlamaConfig, capacity: Int) {
        self.capacity = capacity
        keys = (0..<config.layers).map { _ in FloatBuffer(count: capacity * config.kvSize) }
        values = (0..<config.layers).map { _ in FloatBuffer(count: capacity * config.kvSize) }
    }

    /// Forgets every stored position.
    public func reset() { length = 0 }
}
