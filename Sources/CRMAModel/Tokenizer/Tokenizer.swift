import Foundation

/// A complete text ↔ token-id pipeline: special tokens split out first, then normalization,
/// pre-tokenization, BPE, and decoding back to text.
public struct Tokenizer: Sendable {
    public enum Kind: String, Sendable {
        /// GPT-2 byte-level BPE (SmolLM2, GPT-2, Llama 3, Qwen).
        case byteLevel
        /// SentencePiece-style BPE with `▁` for spaces and `<0xXX>` byte fallback (Llama 2, Mistral).
        case sentencePiece
    }

    public let kind: Kind
    public let model: BPEModel
    public let preTokenizer: PreTokenizer
    /// Tokens matched verbatim in the input and never split (`<|im_start|>`, `</s>`, …), longest first.
    public let specialTokens: [(text: String, id: Int32)]
    public let specialIDs: Set<Int32>
    /// Special tokens that stand for ordinary text (SentencePiece user-defined pieces: Gemma's runs of
    /// newlines, spaces and tabs, its HTML tags): split out of every text, even with `parseSpecial` false,
    /// and decoded as their text even when special tokens are skipped.
    public let textTokenIDs: Set<Int32>
    public let bosID: Int32?
    public let eosID: Int32?
    /// Whether `encode` starts the ids with `bosID` by default.
    public let addBOS: Bool
    /// SentencePiece: whether a `▁` is prepended to the text.
    public let addSpacePrefix: Bool
    /// The chat template from the model, when it has one (Jinja source).
    public let chatTemplate: String?
    /// Whether text (outside special tokens) is put in Unicode normalization form C before it is split,
    /// as Qwen's tokenizer.json asks (`"normalizer": {"type": "NFC"}`).
    public let normalizesToNFC: Bool

    public var vocabularySize: Int { model.tokens.count }

    public init(
        kind: Kind, model: BPEModel, preTokenizer: PreTokenizer, specialTokens: [(String, Int32)], bosID: Int32?,
        eosID: Int32?, addBOS: Bool, addSpacePrefix: Bool, chatTemplate: String?, textTokenIDs: Set<Int32> = [],
        normalizesToNFC: Bool = false
    ) {
        self.kind = kind
        self.model = model
        self.preTokenizer = preTokenizer
        self.specialTokens = specialTokens.sorted { $0.0.utf8.count > $1.0.utf8.count }.map { (text: $0.0, id: $0.1) }
        specialIDs = Set(specialTokens.map(\.1))
        self.textTokenIDs = textTokenIDs
        self.bosID = bosID
        self.eosID = eosID
        self.addBOS = addBOS
        self.addSpacePrefix = addSpacePrefix
        self.chatTemplate = chatTemplate
        self.normalizesToNFC = normalizesToNFC
    }

    /// The same tokenizer with the beginning- and end-of-sequence tokens a model declares (each nil: kept).
    public func declaring(bos: Int32?, eos: Int32?) -> Tokenizer {
        Tokenizer(
            kind: kind, model: model, preTokenizer: preTokenizer, specialTokens: specialTokens.map { ($0.text, $0.id) },
            bosID: bos ?? bosID, eosID: eos ?? eosID, addBOS: addBOS, addSpacePrefix: addSpacePrefix,
            chatTemplate: chatTemplate, textTokenIDs: textTokenIDs, normalizesToNFC: normalizesToNFC)
    }

    /// The id of a token string, if it is in the vocabulary.
    public func id(of token: String) -> Int32? { model.id(of: token) }

    /// What `encode` starts a text with: the beginning-of-sequence token when `addBOS` (by default the
    /// tokenizer's own setting) asks for it and the vocabulary has one.
    public func beginning(addBOS: Bool? = nil) -> [Int32] {
        guard addBOS ?? self.addBOS, let bos = bosID else { return [] }
        return [bos]
    }

    /// Encodes `text`. Special-token strings in the text become their ids when `parseSpecial` is true.
    public func encode(_ text: String, addBOS: Bool? = nil, parseSpecial: Bool = true) -> [Int32] {
        var out = beginning(addBOS: addBOS)
        var firstSegment = true
        for segment in splitSpecial(text, parse: parseSpecial) {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let s):
                encodeOrdinary(normalizesToNFC ? NFC.normalize(s) : s, isFirst: firstSegment, into: &out)
            }
            firstSegment = false
        }
        return out
    }

    enum Segment { case text(Substring), special(Int32) }

    func splitSpecial(_ text: String, parse: Bool) -> [Segment] {
        guard parse || !textTokenIDs.isEmpty, !specialTokens.isEmpty else { return [.text(text[...])] }
        var segments: [Segment] = []
        let u = text.utf8
        var start = u.startIndex, i = u.startIndex
        outer: while i < u.endIndex {
            for (t, id) in specialTokens where u[i] == t.utf8.first! && (parse || textTokenIDs.contains(id)) {
                if u[i...].starts(with: t.utf8) {
                    if start < i { segments.append(.text(Substring(text.utf8[start..<i]))) }
                    segments.append(.special(id))
                    i = u.index(i, offsetBy: t.utf8.count)
                    start = i
                    continue outer
                }
            }
            i = u.index(after: i)
        }
        if start < u.endIndex { segments.append(.text(Substring(text.utf8[start..<u.endIndex]))) }
        return segments
    }

    func encodeOrdinary(_ s: Substring, isFirst: Bool, into out: inout [Int32]) {
        switch kind {
        case .byteLevel:
            for piece in preTokenizer.split(s) { model.encode(ByteLevel.encode(piece), into: &out) }
        case .sentencePiece:
            var text = s.replacingOccurrences(of: " ", with: "▁")
            if addSpacePrefix && isFirst { text = "▁" + text }
            if text.isEmpty { return }
            model.encode(text, into: &out)
        }
    }

    /// The byte a SentencePiece fallback token (`<0xAB>`) stands for.
    static func fallbackByte(_ t: String) -> UInt8? {
        guard t.utf8.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">") else { return nil }
        return UInt8(t.dropFirst(3).dropLast(), radix: 16)
    }

    /// Decodes ids to text. Special tokens are kept as their text unless `skipSpecial`; invalid UTF-8
    /// (e.g. a cut multi-byte character) becomes U+FFFD.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var s = String(decoding: bytes(ids, skipSpecial: skipSpecial), as: UTF8.self)
        if kind == .sentencePiece, addSpacePrefix, s.hasPrefix(" ") { s.removeFirst() }
        return s
    }

    /// The bytes of the text `ids` stand for, before any UTF-8 decoding: one token may hold part of a
    /// character (OpenAI's `logprobs` report them as `bytes`). SentencePiece's leading space is kept.
    public func bytes(_ ids: [Int32], skipSpecial: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0, Int(id) < model.tokens.count else { continue }
            let t = model.tokens[Int(id)]
            if kind == .sentencePiece, let b = Self.fallbackByte(t) {
                bytes.append(b)
                continue
            }
            if specialIDs.contains(id) {
                if !skipSpecial || textTokenIDs.contains(id) { bytes.append(contentsOf: Array(t.utf8)) }
                continue
            }
            switch kind {
            case .byteLevel: ByteLevel.decode(t, into: &bytes)
            case .sentencePiece: bytes.append(contentsOf: Array(t.replacingOccurrences(of: "▁", with: " ").utf8))
            }
        }
        return bytes
    }
}
