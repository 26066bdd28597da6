/// Byte-pair encoding of one pre-tokenized piece: start from single symbols and repeatedly merge the
/// adjacent pair with the best rank (lowest rank first, leftmost on ties) until no ranked pair is left.
public struct BPEModel: Sendable {
    /// Token text → id, byte for byte (the first id of a text listed twice).
    let vocab: [TokenText: Int32]
    /// Id → token string.
    public let tokens: [String]
    /// Merge ranks keyed by the two token ids; lower merges first.
    let ranks: [PairKey: Int32]
    /// When set, symbols missing from the vocabulary are spelled as `<0xXX>` byte tokens (SentencePiece
    /// byte fallback); otherwise they map to `unknownID`.
    public let byteFallback: Bool
    public let unknownID: Int32?
    /// The ids of `<0x00>`…`<0xFF>` when byte fallback is on.
    let byteTokens: [Int32]

    struct PairKey: Hashable { let a: Int32, b: Int32 }

    /// - Parameters:
    ///   - merges: pairs of token strings in rank order.
    public init(tokens: [String], merges: [(String, String)], byteFallback: Bool = false, unknownID: Int32? = nil) {
        let vocab = Self.vocabulary(tokens)
        var ranks: [PairKey: Int32] = [:]
        ranks.reserveCapacity(merges.count)
        for (r, (a, b)) in merges.enumerated() {
            guard let ia = vocab[TokenText(a)], let ib = vocab[TokenText(b)], vocab[TokenText(a + b)] != nil else { continue }
            let key = PairKey(a: ia, b: ib)
            if ranks[key] == nil { ranks[key] = Int32(r) }
        }
        self.init(vocab: vocab, tokens: tokens, ranks: ranks, byteFallback: byteFallback, unknownID: unknownID)
    }

    /// SentencePiece-style BPE from scores: the pair whose concatenation has the highest score merges first.
    public init(tokens: [String], scores: [Float], byteFallback: Bool, unknownID: Int32?) {
        let vocab = Self.vocabulary(tokens)
        // Every token that is the concatenation of two tokens yields a merge; rank by descending score.
        var merges: [(rank: Float, a: Int32, b: Int32)] = []
        for (t, id) in vocab {
            let scalars = Array(t.text.unicodeScalars)
            guard scalars.count > 1 else { continue }
            for cut in 1..<scalars.count {
                var l = String.UnicodeScalarView(), r = String.UnicodeScalarView()
                l.append(contentsOf: scalars[..<cut]); r.append(contentsOf: scalars[cut...])
                if let a = vocab[TokenText(String(l))], let b = vocab[TokenText(String(r))] {
                    merges.append((-scores[Int(id)], a, b))
                }
            }
        }
        merges.sort { ($0.rank, $0.a, $0.b) < ($1.rank, $1.a, $1.b) }
        var ranks: [PairKey: Int32] = [:]
        for (r, m) in merges.enumerated() where ranks[PairKey(a: m.a, b: m.b)] == nil {
            ranks[PairKey(a: m.a, b: m.b)] = Int32(r)
        }
        self.init(vocab: vocab, tokens: tokens, ranks: ranks, byteFallback: byteFallback, unknownID: unknownID)
    }

    /// Text → id for `tokens` (id order), keeping the first id of a text listed twice.
    static func vocabulary(_ tokens: [String]) -> [TokenText: Int32] {
        var vocab: [TokenText: Int32] = [:]
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where vocab[TokenText(t)] == nil { vocab[TokenText(t)] = Int32(i) }
        return vocab
    }

    /// The id of a token's text, if it is in the vocabulary.
    public func id(of token: String) -> Int32? { vocab[TokenText(token)] }

    init(vocab: [TokenText: Int32], tokens: [String], ranks: [PairKey: Int32], byteFallback: Bool, unknownID: Int32?) {
        self.vocab = vocab
        self.tokens = tokens
        self.ranks = ranks
        self.byteFallback = byteFallback
        self.unknownID = unknownID
        byteTokens = (0..<256).map { vocab[TokenText(Self.byteTokenName(UInt8($0)))] ?? -1 }
    }

    /// `<0x0A>` for byte 10: SentencePiece's name for a fallback byte token.
    public static func byteTokenName(_ b: UInt8) -> String {
        let hex = String(b, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }

    /// Token ids for one piece (already byte-level mapped or normalized as the tokenizer requires).
    public func encode(_ piece: String, into out: inout [Int32]) {
        if let whole = vocab[TokenText(piece)], piece.unicodeScalars.count == 1 || ranks.isEmpty {
            out.append(whole)
            return
        }
        // Initial symbols: one per Unicode scalar (byte-level strings are scalars).
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.unicodeScalars.count)
        for s in piece.unicodeScalars {
            if let id = vocab[TokenText(String(s))] {
                symbols.append(id)
            } else if byteFallback {
                for b in String(s).utf8 where byteTokens[Int(b)] >= 0 { symbols.append(byteTokens[Int(b)]) }
            } else if let unk = unknownID {
                symbols.append(unk)
            }
        }
        while symbols.count > 1 {
            var best = Int32.max, at = -1
            for i in 0..<(symbols.count - 1) {
                if let r = ranks[PairKey(a: symbols[i], b: symbols[i + 1])], r < best {
                    best = r
                    at = i
                }
            }
            if at < 0 { break }
            let merged = vocab[TokenText(tokens[Int(symbols[at])] + tokens[Int(symbols[at + 1])])]!
            symbols[at] = merged
            symbols.remove(at: at + 1)
        }
        out.append(contentsOf: symbols)
    }
}

/// A token's text compared and hashed byte for byte. Swift's `String` equality is canonical equivalence, under
/// which ";" (U+003B) equals the Greek question mark (U+037E) and a precomposed "é" its decomposed spelling;
/// vocabularies (Gemma's) hold both of such a pair as different tokens.
struct TokenText: Hashable {
    let text: String

    init(_ text: String) { self.text = text }

    static func == (a: TokenText, b: TokenText) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }

    func hash(into hasher: inout Hasher) {
        var t = text
        t.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
