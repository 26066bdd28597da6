import Foundation

/// Encodes as the control server does (sorted keys) and decodes as crmactl does.
enum WireCoding {
    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    static func roundTrip<T: Codable>(_ value: T) throws -> T {
        try JSONDecoder().decode(T.self, from: encode(value))
    }

    /// The top-level keys of `value` as the server sends it.
    static func keys(_ value: some Encodable) throws -> Set<String> {
        let object = try JSONSerialization.jsonObject(with: encode(value)) as? [String: Any]
        return Set(object?.keys.map { $0 } ?? [])
    }
}
