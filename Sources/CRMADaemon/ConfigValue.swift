/// A parsed configuration value (so validation is pure and testable).
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

    /// Parses TOML text (``TOMLReader``); syntax errors name the line and column.
    public static func parse(toml text: String, file: String) throws -> ConfigValue {
        do {
            return .table(try TOMLReader.parse(text))
        } catch {
            throw ConfigError(
                file: file, key: "", reason: "not valid TOML at line \(error.line), column \(error.column): \(error.reason)")
        }
    }
}
