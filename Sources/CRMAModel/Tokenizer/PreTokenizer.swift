/// How text is cut into pieces before BPE, as a list of steps applied in order (each step splits every
/// piece the previous one produced).
public enum PreTokenizerStep: Sendable, Equatable {
    /// Every numeric character (Unicode N*) becomes its own piece (`Digits(individual_digits=true)`);
    /// with `individual == false`, runs of digits become pieces.
    case digits(individual: Bool)
    /// GPT-2's split: contractions, ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`, `\s+(?!\S)`, `\s+`.
    case gpt2Split
    /// Splits off each run of letters, digits, or other symbols without an optional leading space
    /// (llama-3 style is not supported; this is the plain whitespace split `\w+|[^\w\s]+`).
    case whitespaceSplit
}

/// Pure pre-tokenization: text in, pieces (substrings of the text, in order, covering it) out.
public struct PreTokenizer: Sendable, Equatable {
    public var steps: [PreTokenizerStep]

    public init(steps: [PreTokenizerStep]) { self.steps = steps }

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
