/// Every token's bytes, as constrained decoding matches them (empty for special tokens: never allowed),
/// in one flat buffer. Built once per model (Qwen's 151,936 tokens: 0.05 s in a debug build, which every
/// JSON request paid when each built its own) and shared by every constrained request.
public struct TokenByteTable: Sendable {
    private let bytes: [UInt8]
    /// Token `i` is `bytes[offsets[i]..<offsets[i + 1]]`.
    private let offsets: [Int]

    public init(_ tokenizer: Tokenizer) {
        var bytes: [UInt8] = [], offsets = [0]
        offsets.reserveCapacity(tokenizer.vocabularySize + 1)
        for id in 0..<Int32(tokenizer.vocabularySize) {
            if !tokenizer.specialIDs.contains(id) { bytes += tokenizer.bytes([id]) }
            offsets.append(bytes.count)
        }
        self.bytes = bytes
        self.offsets = offsets
    }

    public var count: Int { offsets.count - 1 }

    /// The bytes of `id`; empty for a special token or an id outside the vocabulary.
    public subscript(id: Int32) -> ArraySlice<UInt8> {
        guard id >= 0, Int(id) < count else { return [] }
        return bytes[offsets[Int(id)]..<offsets[Int(id) + 1]]
    }
}
