/// The text of a completion as its tokens arrive: what may be shown so far (never half a UTF-8 character,
/// never the start of what may still become a stop sequence), and where a stop sequence ends it. The
/// stop sequence itself is not part of the text (OpenAI's behaviour).
public struct CompletionText: Sendable {
    public let stopSequences: [String]
    public private(set) var tokens: [Int32] = []
    /// Unicode scalars of the text handed out so far.
    private var shown = 0
    /// Set once a stop sequence appeared: the text ends before it.
    public private(set) var stopped = false
    private var final: [Unicode.Scalar]?

    public init(stopSequences: [String] = []) {
        self.stopSequences = stopSequences.filter { !$0.isEmpty }
    }

    /// Adds one generated token and returns the text that became safe to show (possibly empty). After a
    /// stop sequence, ``stopped`` is set and nothing more is added.
    public mutating func append(_ id: Int32, tokenizer: Tokenizer) -> String {
        guard !stopped else { return "" }
        tokens.append(id)
        var scalars = Array(tokenizer.decode(tokens, skipSpecial: true).unicodeScalars)
        for stop in stopSequences {
            if let end = Self.firstMatch(of: Array(stop.unicodeScalars), in: scalars) {
                scalars = Array(scalars[..<end])
                stopped = true
            }
        }
        if stopped {
            final = scalars
            return take(upTo: scalars.count, of: scalars)
        }
        // A trailing replacement character is an incomplete UTF-8 sequence; a suffix that begins a stop
        // sequence may still become one.
        var safe = scalars.count
        while safe > shown, scalars[safe - 1] == "\u{FFFD}" { safe -= 1 }
        let held = stopSequences.map { Self.heldBack(Array($0.unicodeScalars), in: scalars[..<safe]) }.max() ?? 0
        return take(upTo: safe - held, of: scalars)
    }

    /// Ends the completion: the rest of the text (what was held back, unless a stop sequence cut it).
    public mutating func finish(tokenizer: Tokenizer) -> String {
        let scalars = final ?? Array(tokenizer.decode(tokens, skipSpecial: true).unicodeScalars)
        final = scalars
        return take(upTo: scalars.count, of: scalars)
    }

    private mutating func take(upTo end: Int, of scalars: [Unicode.Scalar]) -> String {
        guard end > shown else { return "" }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars[shown..<end])
        shown = end
        return String(s)
    }

    /// Where the first occurrence of `needle` starts.
    static func firstMatch(of needle: [Unicode.Scalar], in hay: [Unicode.Scalar]) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }

    /// The length of the longest suffix of `text` that is a proper prefix of `stop`.
    static func heldBack(_ stop: [Unicode.Scalar], in text: ArraySlice<Unicode.Scalar>) -> Int {
        var n = min(stop.count - 1, text.count)
        while n > 0 {
            if text.suffix(n).elementsEqual(stop.prefix(n)) { return n }
            n -= 1
        }
        return 0
    }
}
