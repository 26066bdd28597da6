/// Reads a JSON document byte by byte against a ``JSONSchema`` and refuses the first byte after which no
/// valid document could follow: every prefix it accepts can still be completed to a document that parses
/// and validates. A value type, so a candidate token is tried on a copy.
///
/// Whitespace between tokens is allowed in runs of at most ``maxWhitespace`` bytes and nesting to
/// ``maxDepth`` levels, so a sampling model cannot stall a document forever in either.
public struct JSONSchemaMatcher: Sendable, Equatable {
    public static let maxWhitespace = 16
    public static let maxDepth = 32
    static let maxDigits = 24
    static let maxKeyBytes = 64

    enum ObjectPhase: Equatable {
        case keyOrEnd, key, colon, value, commaOrEnd
    }

    enum NumberPhase: Equatable {
        case sign, zero, integer, point, fraction, exponentMark, exponentSign, exponent
    }

    indirect enum Frame: Equatable {
        /// Expecting a value of this schema (whitespace first).
        case value(JSONSchema)
        case object(properties: [String: JSONSchema], required: Set<String>, additional: JSONSchema?, seen: Set<String>,
                    phase: ObjectPhase, key: [UInt8])
        case array(items: JSONSchema, minItems: Int, maxItems: Int?, count: Int, expectingValue: Bool)
        /// Inside a string: its limits, characters so far, whether an escape is open (1 after the
        /// backslash; 5...2 while a \u escape's hex digits remain), and the UTF-8 continuation bytes the
        /// character being read still needs.
        case string(minLength: Int, maxLength: Int?, format: StringFormat?, length: Int, escape: Int, pending: Int)
        case number(integer: Bool, phase: NumberPhase, digits: Int)
        /// One of these texts; `matched` bytes of them read.
        case literal([[UInt8]], matched: Int)
    }

    var stack: [Frame]
    var whitespace = 0
    /// The top-level value is complete.
    public private(set) var finished = false

    public init(schema: JSONSchema) { stack = [.value(schema)] }

    /// Whether the document is complete: the end of text may come now.
    public var isComplete: Bool {
        if finished { return true }
        // A top-level number or literal ends where the text ends.
        guard stack.count == 1 else { return false }
        switch stack[0] {
        case .number(_, let phase, _): return [.zero, .integer, .fraction, .exponent].contains(phase)
        case .literal(let texts, let matched): return texts.contains { $0.count == matched }
        default: return false
        }
    }

    /// Whether `bytes` can follow what was read (tried on a copy).
    public func accepts<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var copy = self
        for b in bytes where !copy.feed(b) { return false }
        return true
    }

    /// Reads one byte; false (and the matcher unusable) when no valid document continues with it.
    @discardableResult
    public mutating func feed(_ byte: UInt8) -> Bool {
        if finished { return false }
        guard let top = stack.last else { return false }
        let isSpace = byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
        switch top {
        case .value(let schema):
            if isSpace { return space() }
            whitespace = 0
            stack.removeLast()
            return start(schema, byte)

        case .object(let properties, let required, let additional, let seen, let phase, let key):
            switch phase {
            case .keyOrEnd, .commaOrEnd:
                if isSpace { return space() }
                whitespace = 0
                if byte == UInt8(ascii: "}") {
                    guard required.isSubset(of: seen) else { return false }
                    // After a comma a key must follow (phase keyOrEnd with seen members means after a comma).
                    if phase == .keyOrEnd, !seen.isEmpty { return false }
                    stack.removeLast()
                    return valueEnded()
                }
                if phase == .commaOrEnd {
                    guard byte == UInt8(ascii: ","), hasUnseenKey(properties, additional, seen) else { return false }
                    replaceTop(.object(properties: properties, required: required, additional: additional, seen: seen, phase: .keyOrEnd, key: []))
                    return true
                }
                guard byte == UInt8(ascii: "\""), hasUnseenKey(properties, additional, seen) else { return false }
                replaceTop(.object(properties: properties, required: required, additional: additional, seen: seen, phase: .key, key: []))
                return true
            case .key:
                // Keys are read without escapes: a declared property's name by prefix, or with `additional`
                // any name (of at most maxKeyBytes) not read before.
                if byte == UInt8(ascii: "\"") {
                    let name = String(decoding: key, as: UTF8.self)
                    guard !seen.contains(name), properties[name] != nil || additional != nil else { return false }
                    replaceTop(.object(properties: properties, required: required, additional: additional, seen: seen.union([name]), phase: .colon, key: key))
                    return true
                }
                let next = key + [byte]
                if additional != nil {
                    guard byte >= 0x20, byte != UInt8(ascii: "\\"), next.count <= Self.maxKeyBytes else { return false }
                } else {
                    guard properties.keys.contains(where: { !seen.contains($0) && $0.utf8.starts(with: next) }) else { return false }
                }
                replaceTop(.object(properties: properties, required: required, additional: additional, seen: seen, phase: .key, key: next))
                return true
            case .colon:
                if isSpace { return space() }
                whitespace = 0
                guard byte == UInt8(ascii: ":") else { return false }
                let name = String(decoding: key, as: UTF8.self)
                guard let schema = properties[name] ?? additional else { return false }
                replaceTop(.object(properties: properties, required: required, additional: additional, seen: seen, phase: .value, key: key))
                guard stack.count < Self.maxDepth else { return false }
                stack.append(.value(schema))
                return true
            case .value:
                return false  // a value frame sits above while the member's value is read
            }

        case .array(let items, let minItems, let maxItems, let count, let expectingValue):
            if isSpace { return space() }
            whitespace = 0
            if byte == UInt8(ascii: "]") {
                // "[" then "]", or after a value; never right after a comma.
                guard count >= minItems, !(expectingValue && count > 0) else { return false }
                stack.removeLast()
                return valueEnded()
            }
            if expectingValue {
                guard maxItems.map({ count < $0 }) ?? true, stack.count < Self.maxDepth else { return false }
                replaceTop(.array(items: items, minItems: minItems, maxItems: maxItems, count: count, expectingValue: false))
                stack.append(.value(items))
                return feed(byte)
            }
            guard byte == UInt8(ascii: ","), maxItems.map({ count < $0 }) ?? true else { return false }
            replaceTop(.array(items: items, minItems: minItems, maxItems: maxItems, count: count, expectingValue: true))
            return true

        case .string(let minLength, let maxLength, let format, let length, let escape, let pending):
            if escape > 0 {
                // escape 1: the character after a backslash; 2...5: the hex digits of \u left + 1.
                if escape == 1 {
                    if byte == UInt8(ascii: "u") {
                        replaceTop(.string(minLength: minLength, maxLength: maxLength, format: format, length: length, escape: 5, pending: 0))
                        return true
                    }
                    guard Array("\"\\/bfnrt".utf8).contains(byte) else { return false }
                    replaceTop(.string(minLength: minLength, maxLength: maxLength, format: format, length: length + 1, escape: 0, pending: 0))
                    return true
                }
                guard StringFormat.matches(byte, UInt8(ascii: "h")) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) else { return false }
                let left = escape - 1
                replaceTop(.string(minLength: minLength, maxLength: maxLength, format: format, length: left == 1 ? length + 1 : length, escape: left == 1 ? 0 : left, pending: 0))
                return true
            }
            if pending > 0 {
                guard byte & 0xC0 == 0x80 else { return false }
                replaceTop(.string(minLength: minLength, maxLength: maxLength, format: format, length: length, escape: 0, pending: pending - 1))
                return true
            }
            if byte == UInt8(ascii: "\"") {
                guard length >= minLength, format.map({ length == $0.pattern.count }) ?? true else { return false }
                stack.removeLast()
                return valueEnded()
            }
            guard byte >= 0x20 else { return false }
            if let format {
                guard length < format.pattern.count, byte != UInt8(ascii: "\\"), StringFormat.matches(byte, format.pattern[length]) else {
                    return false
                }
            }
            if byte == UInt8(ascii: "\\") {
                guard maxLength.map({ length < $0 }) ?? true else { return false }
                replaceTop(.string(minLength: minLength, maxLength: maxLength, format: format, length: length, escape: 1, pending: 0))
                return true
            }
            // A character: one ASCII byte, or a UTF-8 lead byte and the continuation bytes it announces.
            let follow: Int
            switch byte {
            case 0x20..<0x80: follow = 0
            case 0xC2...0xDF: follow = 1
            case 0xE0...0xEF: follow = 2
            case 0xF0...0xF4: follow = 3
            default: return false
            }
            guard maxLength.map({ length + 1 <= $0 }) ?? true else { return false }
            replaceTop(.string(minLength: minLength, maxLength: maxLength, format: format, length: length + 1, escape: 0, pending: follow))
            return true

        case .number(let integer, let phase, let digits):
            let isDigit = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            var next: NumberPhase?
            switch phase {
            case .sign: next = byte == UInt8(ascii: "0") ? .zero : isDigit ? .integer : nil
            case .zero, .integer:
                if isDigit, phase == .integer { next = .integer }
                else if byte == UInt8(ascii: "."), !integer { next = .point }
                else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E"), !integer { next = .exponentMark }
            case .point, .fraction: next = isDigit ? .fraction : phase == .fraction && (byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")) ? .exponentMark : nil
            case .exponentMark: next = byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") ? .exponentSign : isDigit ? .exponent : nil
            case .exponentSign, .exponent: next = isDigit ? .exponent : nil
            }
            if let next {
                guard digits < Self.maxDigits else { return false }
                replaceTop(.number(integer: integer, phase: next, digits: digits + (isDigit ? 1 : 0)))
                return true
            }
            // The number ends here if it may, and the byte belongs to what follows it.
            guard [.zero, .integer, .fraction, .exponent].contains(phase) else { return false }
            stack.removeLast()
            guard valueEnded() else { return false }
            return feed(byte)

        case .literal(let texts, let matched):
            let continuing = texts.filter { $0.count > matched && $0[matched] == byte }
            if !continuing.isEmpty {
                replaceTop(.literal(continuing, matched: matched + 1))
                return true
            }
            // A complete literal ends here; the byte belongs to what follows it.
            guard texts.contains(where: { $0.count == matched }) else { return false }
            stack.removeLast()
            guard valueEnded() else { return false }
            return feed(byte)
        }
    }

    /// Starts a value of `schema` with its first byte.
    private mutating func start(_ schema: JSONSchema, _ byte: UInt8) -> Bool {
        switch schema {
        case .any:
            switch byte {
            case UInt8(ascii: "{"): return start(.anyObject, byte)
            case UInt8(ascii: "["): return start(.array(items: .any, minItems: 0, maxItems: nil), byte)
            case UInt8(ascii: "\""): return start(.string(minLength: 0, maxLength: nil, format: nil), byte)
            case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"): return start(.literals(["true", "false", "null"]), byte)
            default: return start(.number(integer: false), byte)
            }
        case .object(let properties, let required, let additional):
            guard byte == UInt8(ascii: "{") else { return false }
            stack.append(.object(properties: properties, required: required, additional: additional, seen: [], phase: .keyOrEnd, key: []))
            return true
        case .array(let items, let minItems, let maxItems):
            guard byte == UInt8(ascii: "[") else { return false }
            stack.append(.array(items: items, minItems: minItems, maxItems: maxItems, count: 0, expectingValue: true))
            return true
        case .string(let minLength, let maxLength, let format):
            guard byte == UInt8(ascii: "\"") else { return false }
            stack.append(.string(minLength: minLength, maxLength: maxLength, format: format, length: 0, escape: 0, pending: 0))
            return true
        case .number(let integer):
            stack.append(.number(integer: integer, phase: .sign, digits: 0))
            if byte == UInt8(ascii: "-") { return true }
            return feed(byte)
        case .boolean: return start(.literals(["true", "false"]), byte)
        case .null: return start(.literals(["null"]), byte)
        case .literals(let texts):
            stack.append(.literal(texts.map { Array($0.utf8) }, matched: 0))
            return feed(byte)
        }
    }

    /// A value was read: its parent moves on.
    private mutating func valueEnded() -> Bool {
        guard let parent = stack.last else {
            finished = true
            return true
        }
        switch parent {
        case .object(let p, let r, let a, let seen, .value, let key):
            replaceTop(.object(properties: p, required: r, additional: a, seen: seen, phase: .commaOrEnd, key: key))
        case .array(let items, let minItems, let maxItems, let count, _):
            replaceTop(.array(items: items, minItems: minItems, maxItems: maxItems, count: count + 1, expectingValue: false))
        default:
            return false
        }
        return true
    }

    private mutating func space() -> Bool {
        whitespace += 1
        return whitespace <= Self.maxWhitespace
    }

    private mutating func replaceTop(_ frame: Frame) { stack[stack.count - 1] = frame }

    private func hasUnseenKey(_ properties: [String: JSONSchema], _ additional: JSONSchema?, _ seen: Set<String>) -> Bool {
        additional != nil || properties.keys.contains { !seen.contains($0) }
    }
}
