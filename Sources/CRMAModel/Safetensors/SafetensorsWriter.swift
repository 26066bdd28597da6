import Foundation

/// Builds a `.safetensors` file (F32 tensors) with a string-to-string `__metadata__` map.
public struct SafetensorsWriter {
    private var entries: [(name: String, shape: [Int], values: [Float])] = []
    public var metadata: [String: String] = [:]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    public mutating func add(_ name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) for \(values.count) values")
        entries.append((name, shape, values))
    }

    /// The file's bytes: 8-byte little-endian header length, the JSON header (padded to 8 bytes), data.
    public func data() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for e in entries {
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + 4 * e.values.count]]
            offset += 4 * e.values.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries {
            e.values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Writes the file atomically (temp file, fsync, rename, directory fsync).
    public func write(to path: String) throws { try AtomicFile.write(data(), to: path) }
}

extension SafetensorsFile {
    /// All elements of `name` as Float32, or nil if absent.
    public func floats(_ name: String) throws -> [Float]? {
        guard let t = tensors[name] else { return nil }
        var out = [Float](repeating: 0, count: t.shape.reduce(1, *))
        try out.withUnsafeMutableBufferPointer { try read(t, into: $0.baseAddress!) }
        return out
    }
}
