import TOMLKit

/// A parsed configuration value, independent of the TOML library (so validation is pure and testable).
public indirect enum ConfigValue: Sendable, Equatable {
    case table([String: ConfigValue])
    case array([ConfigValue])
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    /// Dates and times, which no key of ours takes.
    case other(String)

    var typeName: String {
        switch self {
        case .table: "a table"
        case .array: "an array"
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a float"
        case .bool: "a boolean"
        case .other(let t): t
        }
    }

    /// Parses TOML text; syntax errors name the line and column.
    public static func parse(toml text: String, file: String) throws -> ConfigValue {
        if let (line, reason) = unsafeForParser(text) {
            throw ConfigError(file: file, key: "", reason: "not valid TOML at line \(line): \(reason)")
        }
        do {
            return convert(try TOMLTable(string: text))
        } catch let e as TOMLParseError {
            throw ConfigError(
                file: file, key: "",
                reason: "not valid TOML at line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        }
    }

    /// Input the TOML library (toml++ 3.x inside TOMLKit) must not see: a table header whose name starts
    /// with a character no key can start with (`[=x]`) reaches an assertion in debug builds and undefined
    /// behaviour in release builds (found by `crma-fuzz toml`). Such a file is not valid TOML anyway.
    static func unsafeForParser(_ text: String) -> (line: Int, reason: String)? {
        for (n, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            var rest = line.drop { $0 == " " || $0 == "\t" }
            guard rest.first == "[" else { continue }
            rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" }
            if rest.first == "[" { rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" } }
            guard let c = rest.first else { return (n + 1, "a table header must name its table on the same line") }
            let keyStart = c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || c == "\"" || c == "'")
            if !keyStart && c != "]" {
                return (n + 1, "a table name must start with a letter, digit, '_', '-' or a quote, not \"\(c)\"")
            }
        }
        return nil
    }

    static func convert(_ v: any TOMLValueConvertible) -> ConfigValue {
        if let t = v.table {
            var d: [String: ConfigValue] = [:]
            for k in t.keys { if let x = t[k] { d[k] = convert(x) } }
            return .table(d)
        }
        if let a = v.array { return .array(a.map { convert($0) }) }
        switch v.type {
        case .bool: return .bool(v.bool ?? false)
        case .int: return .integer(v.int ?? 0)
        case .double: return .float(v.double ?? 0)
        case .string: return .string(v.string ?? "")
        default: return .other("a \(v.type)")
        }
    }
}
