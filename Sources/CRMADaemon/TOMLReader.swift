/// A TOML 1.0 reader for configuration files, written for crmad so that no input can crash the daemon
/// (the C++ library it replaces asserted on some malformed headers, found by `crma-fuzz toml`).
///
/// It reads comments, bare, quoted and dotted keys, tables and arrays of tables, the four string forms
/// with every escape, decimal, hexadecimal, octal and binary integers (with `_` separators), floats
/// (including `inf` and `nan`), booleans, arrays and inline tables. Dates and times are recognised and
/// returned as `.other` (no key of ours takes one). Nesting is limited to ``maxDepth`` levels, so hostile
/// input cannot exhaust the stack. Errors name the line and column.
struct TOMLReader {
    struct SyntaxError: Error, Equatable {
        var line: Int
        var column: Int
        var reason: String
    }

    static let maxDepth = 64

    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStart = 0
    private var root: [String: ConfigValue] = [:]
    /// The table that key/value lines go into: path from the root (an array of tables means its last table).
    private var current: [String] = []
    /// Tables opened by a `[header]`, which may not be opened again, and tables closed to dotted keys.
    private var headed: Set<[String]> = []

    private init(_ text: String) { bytes = Array(text.utf8) }

    /// Parses a whole document into its root table.
    static func parse(_ text: String) throws(SyntaxError) -> [String: ConfigValue] {
        var r = TOMLReader(text)
        if r.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { r.pos = 3 }
        while r.pos < r.bytes.count { try r.statement() }
        return r.root
    }

    // MARK: Statements

    private mutating func statement() throws(SyntaxError) {
        skipSpaces()
        guard let c = peek else { return }
        switch c {
        case UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "#"):
            break
        case UInt8(ascii: "["):
            try header()
        default:
            let key = try dottedKey()
            skipSpaces()
            try expect("=", "expected '=' after the key")
            skipSpaces()
            let value = try self.value(depth: 1)
            try insert(value, at: current, key: key)
        }
        skipSpaces()
        try endOfLine()
    }

    private mutating func header() throws(SyntaxError) {
        pos += 1
        let arrayOfTables = peek == UInt8(ascii: "[")
        if arrayOfTables { pos += 1 }
        skipSpaces()
        let path = try dottedKey()
        skipSpaces()
        try expect("]", "expected ']' to close the table header")
        if arrayOfTables { try expect("]", "expected ']]' to close the array-of-tables header") }
        if arrayOfTables {
            let here = self
            try update(root: path.dropLast()) { (t: inout [String: ConfigValue]) throws(SyntaxError) in
                switch t[path.last!] {
                case nil: t[path.last!] = .array([.table([:])])
                case .array(var a) where a.allSatisfy({ if case .table = $0 { true } else { false } }):
                    a.append(.table([:]))
                    t[path.last!] = .array(a)
                default: throw here.error("\(path.joined(separator: ".")) is already defined as something else")
                }
            }
            headed = headed.filter { !$0.starts(with: path) || $0 == path }
        } else {
            guard !headed.contains(path) else {
                throw error("table [\(path.joined(separator: "."))] is defined twice")
            }
            headed.insert(path)
            try update(root: path[...]) { (_: inout [String: ConfigValue]) throws(SyntaxError) in }
        }
        current = path
    }

    // MARK: The tree

    /// Applies `body` to the table at `path` (descending into the last table of arrays of tables),
    /// creating missing tables. Works on a copy, so a failed statement leaves the document unchanged.
    private mutating func update(
        root path: ArraySlice<String>, _ body: (inout [String: ConfigValue]) throws(SyntaxError) -> Void
    ) throws(SyntaxError) {
        var copy = root
        try Self.descend(&copy, path, at: self, body)
        root = copy
    }

    private static func descend(
        _ table: inout [String: ConfigValue], _ path: ArraySlice<String>, at reader: TOMLReader,
        _ body: (inout [String: ConfigValue]) throws(SyntaxError) -> Void
    ) throws(SyntaxError) {
        guard let first = path.first else { return try body(&table) }
        switch table[first] {
        case nil:
            var t: [String: ConfigValue] = [:]
            try descend(&t, path.dropFirst(), at: reader, body)
            table[first] = .table(t)
        case .table(var t):
            try descend(&t, path.dropFirst(), at: reader, body)
            table[first] = .table(t)
        case .array(var a):
            guard case .table(var t)? = a.last else {
                throw reader.error("\(first) is an array of values, not of tables")
            }
            try descend(&t, path.dropFirst(), at: reader, body)
            a[a.count - 1] = .table(t)
            table[first] = .array(a)
        default:
            throw reader.error("\(first) is already a value, not a table")
        }
    }

    private mutating func insert(_ value: ConfigValue, at table: [String], key: [String]) throws(SyntaxError) {
        let name = key.last!, here = self
        try update(root: (table + key.dropLast())[...]) { (t: inout [String: ConfigValue]) throws(SyntaxError) in
            guard t[name] == nil else { throw here.error("key \((table + key).joined(separator: ".")) is defined twice") }
            t[name] = value
        }
    }

    // MARK: Keys

    private mutating func dottedKey() throws(SyntaxError) -> [String] {
        var parts = [try simpleKey()]
        while true {
            let save = pos
            skipSpaces()
            guard peek == UInt8(ascii: ".") else {
                pos = save
                return parts
            }
            pos += 1
            skipSpaces()
            parts.append(try simpleKey())
        }
    }

    private mutating func simpleKey() throws(SyntaxError) -> String {
        switch peek {
        case UInt8(ascii: "\""): return try basicString()
        case UInt8(ascii: "'"): return try literalString()
        default:
            let start = pos
            while let c = peek, Self.isBare(c) { pos += 1 }
            guard pos > start else {
                throw error(peek.map { "a key cannot start with \(Self.describe($0))" } ?? "expected a key")
            }
            return String(decoding: bytes[start..<pos], as: UTF8.self)
        }
    }

    /// A byte of a number, date or time token: a bare-key byte, sign, dot or colon.
    private static func isNumberOrDate(_ c: UInt8) -> Bool {
        isBare(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: ":")
    }

    private static func isBare(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
    }

    // MARK: Values

    private mutating func value(depth: Int) throws(SyntaxError) -> ConfigValue {
        guard depth <= Self.maxDepth else { throw error("values nested more than \(Self.maxDepth) levels deep") }
        guard let c = peek else { throw error("expected a value") }
        switch c {
        case UInt8(ascii: "\""): return .string(try basicString())
        case UInt8(ascii: "'"): return .string(try literalString())
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "{"): return try inlineTable(depth: depth)
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if matches("true") { pos += 4; return .bool(true) }
            if matches("false") { pos += 5; return .bool(false) }
            throw error("expected a value")
        default:
            return try numberOrDate()
        }
    }

    private mutating func array(depth: Int) throws(SyntaxError) -> ConfigValue {
        pos += 1
        var items: [ConfigValue] = []
        while true {
            try skipBlank()
            if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
            items.append(try value(depth: depth + 1))
            try skipBlank()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            try expect("]", "expected ',' or ']' in the array")
            return .array(items)
        }
    }

    private mutating func inlineTable(depth: Int) throws(SyntaxError) -> ConfigValue {
        pos += 1
        var table: [String: ConfigValue] = [:]
        skipSpaces()
        if peek == UInt8(ascii: "}") { pos += 1; return .table(table) }
        while true {
            skipSpaces()
            let key = try dottedKey()
            skipSpaces()
            try expect("=", "expected '=' after the key")
            skipSpaces()
            let v = try value(depth: depth + 1)
            var failure: String?
            Self.set(&table, key[...], v, depth: 0, failure: &failure)
            if let failure { throw error(failure) }
            skipSpaces()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            try expect("}", "expected ',' or '}' in the inline table (on one line)")
            return .table(table)
        }
    }

    private static func set(
        _ t: inout [String: ConfigValue], _ key: ArraySlice<String>, _ v: ConfigValue, depth: Int,
        failure: inout String?
    ) {
        let k = key.first!
        if key.count == 1 {
            if t[k] != nil { failure = "key \(k) is defined twice" } else { t[k] = v }
            return
        }
        var inner: [String: ConfigValue]
        switch t[k] {
        case nil: inner = [:]
        case .table(let x): inner = x
        default:
            failure = "\(k) is already a value, not a table"
            return
        }
        set(&inner, key.dropFirst(), v, depth: depth + 1, failure: &failure)
        t[k] = .table(inner)
    }

    private mutating func numberOrDate() throws(SyntaxError) -> ConfigValue {
        let start = pos
        while let c = peek, Self.isNumberOrDate(c) { pos += 1 }
        // A date and time may separate its parts with one space: 1979-05-27 07:32:00.
        if pos - start == 10, peek == UInt8(ascii: " "), pos + 1 < bytes.count, bytes[pos + 1] >= 0x30,
            bytes[pos + 1] <= 0x39
        {
            pos += 1
            while let c = peek, Self.isNumberOrDate(c) { pos += 1 }
        }
        let token = String(decoding: bytes[start..<pos], as: UTF8.self)
        guard !token.isEmpty else {
            throw error(peek.map { "expected a value, found \(Self.describe($0))" } ?? "expected a value")
        }
        if let v = TOMLNumber.parse(token) { return v }
        if TOMLNumber.looksLikeDate(token) { return .other("a date or time") }
        throw error("\"\(token)\" is not a valid value (strings need quotes)")
    }

    // MARK: Strings

    private mutating func basicString() throws(SyntaxError) -> String {
        if matches("\"\"\"") { return try multilineBasic() }
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek, c != UInt8(ascii: "\n") else { throw error("unterminated string") }
            pos += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\\") { try escape(into: &out) } else { try plain(c, into: &out) }
        }
    }

    private mutating func multilineBasic() throws(SyntaxError) -> String {
        pos += 3
        skipOneNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated multi-line string") }
            if matches("\"\"\"") {
                pos += 3
                // Up to two more quotes belong to the string: """a""""" is `a""`.
                for _ in 0..<2 where peek == UInt8(ascii: "\"") { out.append(c); pos += 1 }
                return String(decoding: out, as: UTF8.self)
            }
            pos += 1
            if c == UInt8(ascii: "\\") {
                // A line-ending backslash trims the newline and the whitespace after it.
                let save = pos
                skipSpaces()
                if peek == UInt8(ascii: "\n") || (peek == UInt8(ascii: "\r") && next == UInt8(ascii: "\n")) {
                    while let w = peek, w == 0x20 || w == 0x09 || w == 0x0A || w == 0x0D {
                        if w == 0x0A { newLine() } else { pos += 1 }
                    }
                    continue
                }
                pos = save
                try escape(into: &out)
            } else if c == 0x0A {
                pos -= 1
                newLine()
                out.append(c)
            } else if c == 0x0D && peek == 0x0A {
                continue
            } else {
                try plain(c, into: &out)
            }
        }
    }

    private mutating func literalString() throws(SyntaxError) -> String {
        if matches("'''") {
            pos += 3
            skipOneNewline()
            var out: [UInt8] = []
            while true {
                guard let c = peek else { throw error("unterminated multi-line literal string") }
                if matches("'''") {
                    pos += 3
                    for _ in 0..<2 where peek == UInt8(ascii: "'") { out.append(c); pos += 1 }
                    return String(decoding: out, as: UTF8.self)
                }
                if c == 0x0A {
                    newLine()
                    out.append(c)
                } else if c == 0x0D && next == 0x0A {
                    pos += 1
                } else {
                    pos += 1
                    try plain(c, into: &out)
                }
            }
        }
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek, c != UInt8(ascii: "\n") else { throw error("unterminated literal string") }
            pos += 1
            if c == UInt8(ascii: "'") { return String(decoding: out, as: UTF8.self) }
            try plain(c, into: &out)
        }
    }

    private func plain(_ c: UInt8, into out: inout [UInt8]) throws(SyntaxError) {
        guard c >= 0x20 || c == 0x09, c != 0x7F else {
            throw error("control character \(Self.describe(c)) in a string; escape it")
        }
        out.append(c)
    }

    private mutating func escape(into out: inout [UInt8]) throws(SyntaxError) {
        guard let c = peek else { throw error("unterminated escape") }
        pos += 1
        let simple: [UInt8: UInt8] = [
            UInt8(ascii: "b"): 0x08, UInt8(ascii: "t"): 0x09, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "f"): 0x0C,
            UInt8(ascii: "r"): 0x0D, UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "e"): 0x1B,
        ]
        if let s = simple[c] {
            out.append(s)
            return
        }
        let digits = c == UInt8(ascii: "u") ? 4 : c == UInt8(ascii: "U") ? 8 : 0
        guard digits > 0 else { throw error("unknown escape \\\(Self.describe(c))") }
        guard pos + digits <= bytes.count,
            let code = UInt32(String(decoding: bytes[pos..<(pos + digits)], as: UTF8.self), radix: 16),
            let scalar = Unicode.Scalar(code)
        else { throw error("\\\(Character(Unicode.Scalar(c))) needs \(digits) hex digits of a Unicode scalar value") }
        pos += digits
        out.append(contentsOf: Array(String(Character(scalar)).utf8))
    }

    // MARK: Lexing helpers

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }
    private var next: UInt8? { pos + 1 < bytes.count ? bytes[pos + 1] : nil }

    private func matches(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard pos + n <= bytes.count else { return false }
        return s.withUTF8Buffer { b in (0..<n).allSatisfy { bytes[pos + $0] == b[$0] } }
    }

    private mutating func skipSpaces() {
        while let c = peek, c == 0x20 || c == 0x09 { pos += 1 }
    }

    private mutating func newLine() {
        pos += 1
        line += 1
        lineStart = pos
    }

    private mutating func skipOneNewline() {
        if peek == 0x0A { newLine() } else if peek == 0x0D && next == 0x0A { pos += 1; newLine() }
    }

    /// Spaces, newlines and comments (inside arrays).
    private mutating func skipBlank() throws(SyntaxError) {
        while let c = peek {
            if c == 0x20 || c == 0x09 {
                pos += 1
            } else if c == 0x0A {
                newLine()
            } else if c == 0x0D && next == 0x0A {
                pos += 1
            } else if c == UInt8(ascii: "#") {
                try comment()
            } else {
                return
            }
        }
    }

    private mutating func comment() throws(SyntaxError) {
        while let c = peek, c != 0x0A {
            if c == 0x0D && next == 0x0A { break }
            guard c >= 0x20 || c == 0x09, c != 0x7F else { throw error("control character \(Self.describe(c)) in a comment") }
            pos += 1
        }
    }

    /// A comment, then the end of the line (or of the file).
    private mutating func endOfLine() throws(SyntaxError) {
        if peek == UInt8(ascii: "#") { try comment() }
        guard let c = peek else { return }
        if c == 0x0A {
            newLine()
        } else if c == 0x0D && next == 0x0A {
            pos += 1
            newLine()
        } else {
            throw error("unexpected \(Self.describe(c)); one key = value or [table] per line")
        }
    }

    private mutating func expect(_ c: Character, _ reason: String) throws(SyntaxError) {
        guard peek == c.asciiValue else { throw error(reason) }
        pos += 1
    }

    private func error(_ reason: String) -> SyntaxError {
        SyntaxError(line: line, column: pos - lineStart + 1, reason: reason)
    }

    private static func describe(_ c: UInt8) -> String {
        let hex = String(c, radix: 16, uppercase: true)
        return c >= 0x21 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x" + (c < 16 ? "0" : "") + hex
    }
}
