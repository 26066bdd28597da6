import CRMAModel
import CRMAWire

extension JSONSchema {
    /// Why a schema cannot be enforced: the keyword and what is wrong with it.
    public struct Unsupported: Error, Equatable, CustomStringConvertible {
        public var keyword: String
        public var reason: String
        public var description: String { "\(keyword): \(reason)" }
    }

    static let annotations: Set<String> = ["title", "description", "$schema", "$id", "default", "examples", "$comment"]
    static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
        "minLength", "maxLength", "format",
    ]

    /// Reads a JSON Schema document into the supported subset, or throws ``Unsupported`` naming the keyword.
    public static func parse(_ value: JSONValue) throws -> JSONSchema {
        guard case .object(let m, _) = value else {
            if value == .bool(true) { return .any }
            throw Unsupported(keyword: "schema", reason: "must be an object")
        }
        for key in m.keys.sorted() where !annotations.contains(key) {
            guard keywords.contains(key) else {
                throw Unsupported(keyword: key, reason: "not supported by crmad's constrained decoding (docs/daemon.md)")
            }
        }
        if let values = m["enum"] {
            guard case .array(let items) = values, !items.isEmpty else {
                throw Unsupported(keyword: "enum", reason: "must be a non-empty list")
            }
            return .literals(items.map(\.text))
        }
        if let value = m["const"] { return .literals([value.text]) }
        func count(_ key: String) throws -> Int? {
            guard let v = m[key] else { return nil }
            guard case .number(let n) = v, n >= 0, n == n.rounded(), n < 1e6 else {
                throw Unsupported(keyword: key, reason: "must be a whole number ≥ 0")
            }
            return Int(n)
        }
        let type: String
        switch m["type"] {
        case nil: return .any
        case .string(let t)?: type = t
        case .array?: throw Unsupported(keyword: "type", reason: "a list of types is not supported; give one")
        default: throw Unsupported(keyword: "type", reason: "must be a string")
        }
        switch type {
        case "object":
            var properties: [String: JSONSchema] = [:]
            if let p = m["properties"] {
                guard case .object(let members, _) = p else { throw Unsupported(keyword: "properties", reason: "must be an object") }
                for (name, schema) in members { properties[name] = try parse(schema) }
            }
            var required: Set<String> = []
            if let r = m["required"] {
                guard case .array(let names) = r else { throw Unsupported(keyword: "required", reason: "must be a list of names") }
                for n in names {
                    guard case .string(let name) = n, properties[name] != nil else {
                        throw Unsupported(keyword: "required", reason: "\(n.text) is not one of the properties")
                    }
                    required.insert(name)
                }
            }
            var additional: JSONSchema?
            switch m["additionalProperties"] {
            // Absent: no keys besides the properties (OpenAI's strict mode), any keys when none are declared
            // (`{"type": "object"}`); false: none besides the properties, so only `{}` when none are declared.
            case nil: additional = properties.isEmpty ? .any : nil
            case .bool(false)?: additional = nil
            case .bool(true)?: additional = .any
            case let schema?: additional = try parse(schema)
            }
            return .object(properties: properties, required: required, additional: additional)
        case "array":
            let items = try m["items"].map(parse) ?? .any
            let minItems = try count("minItems") ?? 0
            let maxItems = try count("maxItems")
            if let maxItems, maxItems < minItems { throw Unsupported(keyword: "maxItems", reason: "is below minItems") }
            return .array(items: items, minItems: minItems, maxItems: maxItems)
        case "string":
            var format: StringFormat?
            if let f = m["format"] {
                guard case .string(let name) = f, let known = StringFormat(rawValue: name) else {
                    throw Unsupported(
                        keyword: "format",
                        reason: "\(f.text) is not one of \(StringFormat.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                format = known
            }
            let minLength = try count("minLength") ?? 0
            let maxLength = try count("maxLength")
            if let maxLength, maxLength < minLength { throw Unsupported(keyword: "maxLength", reason: "is below minLength") }
            return .string(minLength: minLength, maxLength: maxLength, format: format)
        case "number": return .number(integer: false)
        case "integer": return .number(integer: true)
        case "boolean": return .literals(["true", "false"])
        case "null": return .literals(["null"])
        default: throw Unsupported(keyword: "type", reason: "\"\(type)\" is not a JSON Schema type")
        }
    }
}
