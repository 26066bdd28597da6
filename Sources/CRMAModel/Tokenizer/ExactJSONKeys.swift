/// Reads the integer entries of one JSON object with every key exactly as written. Foundation's JSON readers
/// collect an object into a `[String: Any]`, and Swift strings that are canonically equivalent are equal
/// keys: a vocabulary holding ";" (U+003B) and the Greek question mark ";" (U+037E), or "é" precomposed and
/// decomposed, loses one of each pair. A tokenizer needs them apart.
enum ExactJSONKeys {
    struct Malformed: Error { let offset: Int }

    /// The `(key, integer)` entries of the object at `path` (keys of nested objects from the root), in file
    /// order; nil when the path does not lead to an object. Entries whose value is not an integer are skipped.
    static func integerEntries(in bytes: [UInt8], at path: [String]) throws -> [(String, Int)]? {
        var scanner = Scanner(bytes: bytes)
        return try scanner.entries(at: path[...])
    }

    struct Scanner {
        let bytes: [UInt8]
        var i = 0

        mutating func entries(at path: ArraySlice<String>) throws -> [(String, Int)]? {
            skipSpace()
            guard peek == UInt8(ascii: "{") else {
                try skipValue()
                return nil
            }
            i += 1
            var found: [(String, Int)]?
            var out: [(String, Int)] = []
            var first = true
            while let key = try nextKey(&first) {
                if let wanted = path.first {
                    if key == wanted, found == nil {
                        found = try entries(at: path.dropFirst())
                    } else {
                        try skipValue()
                    }
                } else if let n = try integer() {
                    out.append((key, n))
                }
            }
            return path.isEmpty ? out : found
        }

        /// The next key of the object being read, its `:` consumed, or nil once its `}` is read. `first` is
        /// true right after the object's `{`.
        mutating func nextKey(_ first: inout Bool) throws -> String? {
            skipSpace()
            if first {
                first = false
                if peek == UInt8(ascii: "}") {
                    i += 1
                    return nil
                }
            } else if peek == UInt8(ascii: ",") {
                i += 1
            } else {
                try expect("}")
                return nil
            }
            skipSpace()
            let key = try string()
            skipSpace()
            try expect(":")
            return key
        }

        /// The integer at the cursor, or nil (with the value skipped) when it is something else.
        mutating func integer() throws -> Int? {
            skipSpace()
            let start = i
            try skipValue()
            return Int(String(decoding: bytes[start..<i], as: UTF8.self))
        }

        mutating func skipValue() throws {
            skipSpace()
            switch peek {
            case UInt8(ascii: "{"):
                i += 1
                var first = true
                while try nextKey(&first) != nil { try skipValue() }
            case UInt8(ascii: "["):
                i += 1
                skipSpace()
                if peek == UInt8(ascii: "]") {
                    i += 1
                    return
                }
                while true {
                    try skipValue()
                    skipSpace()
                    if peek == UInt8(ascii: ",") {
                        i += 1
                        continue
                    }
                    try expect("]")
                    return
                }
            case UInt8(ascii: "\""):
                _ = try string()
            case nil:
                throw Malformed(offset: i)
            default:
                // A number or a literal: everything up to the next delimiter.
                let start = i
                while let c = peek, !Self.delimiters.contains(c) { i += 1 }
                if i == start { throw Malformed(offset: i) }
            }
        }

        static let delimiters: Set<UInt8> = Set(",:]} \t\r\n".utf8)

        /// A JSON string at the cursor, escapes resolved; the scalars are kept as written.
        mutating func string() throws -> String {
            try expect("\"")
            var out: [UInt8] = []
            while true {
                guard let c = peek else { throw Malformed(offset: i) }
                i += 1
                switch c {
                case UInt8(ascii: "\""):
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let e = peek else { throw Malformed(offset: i) }
                    i += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar), bytes[i...].starts(with: Array("\\u".utf8)) {
                            i += 2
                            let low = try hex4()
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        out.append(contentsOf: String(Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8)
                    default: out.append(e)  // \" \\ \/
                    }
                default:
                    out.append(c)
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16)
            else { throw Malformed(offset: i) }
            i += 4
            return v
        }

        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func skipSpace() {
            while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            guard peek == UInt8(ascii: c) else { throw Malformed(offset: i) }
            i += 1
        }
    }
}
