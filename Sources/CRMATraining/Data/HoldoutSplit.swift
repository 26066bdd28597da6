import CRMAModel

/// Deterministic train/holdout split by document hash: a document's side depends only on its own
/// content (SHA-256 of its canonical text), so adding documents never moves existing ones, and the
/// same data always splits the same way.
public struct HoldoutSplit: Sendable, Equatable {
    /// Fraction of documents held out (by hash value).
    public var fraction: Double
    /// At least this many documents are held out (the lowest hashes), as long as one stays for training.
    public var minimum: Int

    public init(fraction: Double = 0.1, minimum: Int = 1) {
        self.fraction = fraction
        self.minimum = minimum
    }

    /// The hash position of a text in [0, 1).
    public static func position(_ text: String) -> Double {
        let digest = SHA256.hex(Array(text.utf8))
        return Double(UInt64(digest.prefix(13), radix: 16)!) / Double(1 << 52)
    }

    /// Indices of `texts` for training and for holdout.
    public func split(_ texts: [String]) -> (train: [Int], holdout: [Int]) {
        let ranked = texts.indices.map { ($0, Self.position(texts[$0])) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        var holdoutCount = ranked.filter { $0.1 < fraction }.count
        holdoutCount = max(holdoutCount, min(minimum, texts.count - 1))
        holdoutCount = max(0, min(holdoutCount, texts.count - 1))
        let holdout = Set(ranked.prefix(holdoutCount).map(\.0))
        return (texts.indices.filter { !holdout.contains($0) }, texts.indices.filter { holdout.contains($0) })
    }
}
