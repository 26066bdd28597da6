/// The subset of JSON Schema that constrained decoding enforces (read from a request's schema by
/// `JSONSchema.parse` in CRMADaemon). Supported: `type` (object, array, string, number, integer, boolean, null; one type, not a list),
/// `properties`, `required`, `additionalProperties` (false, or a schema; absent means no other keys, as
/// OpenAI's strict mode has it, or any keys on an object without `properties`), `items`, `minItems`, `maxItems`, `enum`, `const`, `minLength`,
/// `maxLength`, `format` (date, time, date-time, uuid), nested to any depth; annotations (`title`,
/// `description`, `$schema`, `$id`, `default`, `examples`) are ignored. Anything else is refused by name.
public indirect enum JSONSchema: Sendable, Equatable {
    /// Any JSON value (`{"type": "json_object"}`'s members; a schema with no `type`).
    case any
    /// An object whose keys are `properties`' (each at most once), and others only when `additional` is set.
    case object(properties: [String: JSONSchema], required: Set<String>, additional: JSONSchema?)
    case array(items: JSONSchema, minItems: Int, maxItems: Int?)
    case string(minLength: Int, maxLength: Int?, format: StringFormat?)
    case number(integer: Bool)
    case boolean
    case null
    /// `enum` / `const`: exactly one of these JSON texts.
    case literals([String])

    /// An object with any members (`response_format: {"type": "json_object"}`).
    public static let anyObject = JSONSchema.object(properties: [:], required: [], additional: .any)
}

/// A string `format` enforced character by character: each a fixed pattern of character classes.
public enum StringFormat: String, Sendable, Equatable, CaseIterable {
    case date, time, dateTime = "date-time", uuid

    /// One class per character: `d` a digit, `h` a hex digit, anything else itself.
    var pattern: [UInt8] {
        switch self {
        case .date: Array("dddd-dd-dd".utf8)
        case .time: Array("dd:dd:ddZ".utf8)
        case .dateTime: Array("dddd-dd-ddTdd:dd:ddZ".utf8)
        case .uuid: Array("hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh".utf8)
        }
    }

    static func matches(_ byte: UInt8, _ cls: UInt8) -> Bool {
        switch cls {
        case UInt8(ascii: "d"): return (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        case UInt8(ascii: "h"):
            return (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
        default: return byte == cls
        }
    }
}
