/// How text is cut into pieces before BPE, as a list of steps applied in order (each step splits every
/// piece the previous one produced).
public enum PreTokenizerStep: Sendable, Equatable {
    /// Every numeric character (Unicode N*) becomes its own piece (`Digits(individual_digits=true)`);
    /// with `individual == false`, runs of digits become pieces.
    case digits(individual: Bool)
    /// GPT-2's split: contractions, ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`, `\s+(?!\S)`, `\s+`.
    case gpt2Split
    /// Splits off each run of letters, digits, or other symbols without an optional leading space
    /// (the plain whitespace split `\w+|[^\w\s]+`).
    case whitespaceSplit
    /// Llama 3's and Qwen 2's split: contractions in any case, one non-letter (not a line break) followed by
    /// letters, up to `maxDigits` digits, ` ?` then symbols then line breaks, whitespace ending in a line
    /// break, `\s+(?!\S)`, `\s+`. Llama 3 takes digits three at a time, Qwen 2 one at a time.
    case llama3Split(maxDigits: Int)
}

/// Pure pre-tokenization: text in, pieces (substrings of the text, in order, covering it) out.
public struct PreTokenizer: Sendable, Equatable {
    public var steps: [PreTokenizerStep]

    public init(steps: [PreTokenizerStep]) { self.steps = steps }

    /// Llama 3's split pattern as tokenizer.json writes it (`Split` with behavior `Isolated`), for
    /// `maxDigits` 3; Qwen 2's is the same with `\p{N}` for `\p{N}{1,3}`.
    public static func llama3Pattern(maxDigits: Int) -> String {
        let digits = maxDigits == 1 ? "\\p{N}" : "\\p{N}{1,\(maxDigits)}"
        return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\(digits)| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    }

    public func split(_ text: Substring) -> [Substring] {
        var pieces = [text]
        for step in steps {
            var next: [Substring] = []
            next.reserveCapacity(pieces.count * 2)
            for p in pieces { Self.apply(step, p, into: &next) }
            pieces = next
        }
        return pieces
    }

    static func apply(_ step: PreTokenizerStep, _ s: Substring, into out: inout [Substring]) {
        switch step {
        case .digits(let individual): splitDigits(s, individual: individual, into: &out)
        case .gpt2Split: gpt2(s, into: &out)
        case .whitespaceSplit: whitespace(s, into: &out)
        case .llama3Split(let maxDigits): llama3(s, maxDigits: maxDigits, into: &out)
        }
    }

    enum Kind { case letter, number, space, other }

    @inline(__always)
    static func kind(_ c: Unicode.Scalar) -> Kind {
        if c.value < 128 {
            switch c.value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        let p = c.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    static func splitDigits(_ s: Substring, individual: Bool, into out: inout [Substring]) {
        let u = s.unicodeScalars
        var start = u.startIndex
        var i = u.startIndex
        while i < u.endIndex {
            if kind(u[i]) == .number {
                if start < i { out.append(Substring(u[start..<i])) }
                var j = u.index(after: i)
                if !individual { while j < u.endIndex, kind(u[j]) == .number { j = u.index(after: j) } }
                out.append(Substring(u[i..<j]))
                start = j
                i = j
            } else {
                i = u.index(after: i)
            }
        }
        if start < u.endIndex { out.append(Substring(u[start..<u.endIndex])) }
    }

    static func gpt2(_ s: Substring, into out: inout [Substring]) {
        let u = s.unicodeScalars
        var i = u.startIndex
        let end = u.endIndex
        func run(from j: String.UnicodeScalarView.Index, while k: Kind) -> String.UnicodeScalarView.Index {
            var j = j
            while j < end, kind(u[j]) == k { j = u.index(after: j) }
            return j
        }
        func runOther(from j: String.UnicodeScalarView.Index) -> String.UnicodeScalarView.Index {
            var j = j
            while j < end, kind(u[j]) == .other { j = u.index(after: j) }
            return j
        }
        while i < end {
            let c = u[i]
            // 1. contractions
            if c == "'" {
                let n1 = u.index(after: i)
                if n1 < end {
                    let a = u[n1]
                    if a == "s" || a == "t" || a == "m" || a == "d" {
                        let j = u.index(after: n1)
                        out.append(Substring(u[i..<j])); i = j; continue
                    }
                    let n2 = u.index(after: n1)
                    if n2 < end {
                        let b = u[n2]
                        if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                            let j = u.index(after: n2)
                            out.append(Substring(u[i..<j])); i = j; continue
                        }
                    }
                }
            }
            // 2–4. an optional single space, then a run of letters, numbers, or other symbols.
            var start = i
            if c == " " {
                let n = u.index(after: i)
                if n < end, kind(u[n]) != .space { start = n }
            }
            let k = kind(u[start])
            if start != i || k != .space {
                let j = k == .other ? runOther(from: start) : run(from: start, while: k)
                out.append(Substring(u[i..<j])); i = j; continue
            }
            // 5–6. whitespace: a run not followed by non-space, else leave the last one for the next token.
            let j = run(from: i, while: .space)
            if j == end {
                out.append(Substring(u[i..<j])); i = j; continue
            }
            let last = u.index(before: j)
            if last > i {
                out.append(Substring(u[i..<last])); i = last
            } else {
                out.append(Substring(u[i..<j])); i = j
            }
        }
    }

    static func llama3(_ s: Substring, maxDigits: Int, into out: inout [Substring]) {
        let u = s.unicodeScalars
        let end = u.endIndex
        var i = u.startIndex
        func isLineBreak(_ c: Unicode.Scalar) -> Bool { c == "\r" || c == "\n" }
        func run(from j: String.UnicodeScalarView.Index, while k: Kind) -> String.UnicodeScalarView.Index {
            var j = j
            while j < end, kind(u[j]) == k { j = u.index(after: j) }
            return j
        }
        func emit(_ j: String.UnicodeScalarView.Index) {
            out.append(Substring(u[i..<j]))
            i = j
        }
        while i < end {
            let c = u[i]
            let k = kind(c)
            let next = u.index(after: i)
            // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if c == "'", let j = contractionEnd(u, after: next) {
                emit(j)
                continue
            }
            // 2. [^\r\n\p{L}\p{N}]?\p{L}+
            if k == .letter {
                emit(run(from: next, while: .letter))
                continue
            }
            if k != .number, !isLineBreak(c), next < end, kind(u[next]) == .letter {
                emit(run(from: next, while: .letter))
                continue
            }
            // 3. \p{N}{1,maxDigits}
            if k == .number {
                var j = next, count = 1
                while j < end, count < maxDigits, kind(u[j]) == .number {
                    j = u.index(after: j)
                    count += 1
                }
                emit(j)
                continue
            }
            // 4. ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            let symbols = c == " " && next < end && kind(u[next]) == .other ? next : i
            if kind(u[symbols]) == .other {
                var j = run(from: symbols, while: .other)
                while j < end, isLineBreak(u[j]) { j = u.index(after: j) }
                emit(j)
                continue
            }
            // What is left starts with whitespace. 5. \s*[\r\n]+ (up to the run's last line break)
            let spaceEnd = run(from: i, while: .space)
            var lastBreak: String.UnicodeScalarView.Index?
            var j = i
            while j < spaceEnd {
                if isLineBreak(u[j]) { lastBreak = j }
                j = u.index(after: j)
            }
            if let lastBreak {
                emit(u.index(after: lastBreak))
                continue
            }
            // 6. \s+(?!\S), else 7. \s+
            let beforeEnd = u.index(before: spaceEnd)
            emit(spaceEnd == end || beforeEnd == i ? spaceEnd : beforeEnd)
        }
    }

    /// Where a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`, any case) that follows an
    /// apostrophe ends, if one does.
    static func contractionEnd(
        _ u: Substring.UnicodeScalarView, after start: String.UnicodeScalarView.Index
    ) -> String.UnicodeScalarView.Index? {
        func lower(_ j: String.UnicodeScalarView.Index) -> Unicode.Scalar? {
            guard j < u.endIndex else { return nil }
            let c = u[j]
            return (0x41...0x5A).contains(c.value) ? Unicode.Scalar(c.value + 32) : c
        }
        guard let a = lower(start) else { return nil }
        let second = u.index(after: start)
        switch a {
        case "s", "t", "m", "d": return second
        case "r", "v": return lower(second) == "e" ? u.index(after: second) : nil
        case "l": return lower(second) == "l" ? u.index(after: second) : nil
        default: return nil
        }
    }

    static func whitespace(_ s: Substring, into out: inout [Substring]) {
        let u = s.unicodeScalars
        var i = u.startIndex
        while i < u.endIndex {
            let k = kind(u[i])
            if k == .space { i = u.index(after: i); continue }
            let word = k == .letter || k == .number
            var j = u.index(after: i)
            while j < u.endIndex {
                let kj = kind(u[j])
                if kj == .space || (kj == .letter || kj == .number) != word { break }
                j = u.index(after: j)
            }
            out.append(Substring(u[i..<j]))
            i = j
        }
    }
}
