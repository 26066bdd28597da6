import Foundation

/// One tensor entry of a safetensors header.
public struct SafetensorsTensor: Sendable, Equatable {
    public let name: String
    public let dtype: String
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let range: Range<Int>
}

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header, then data.
/// Every entry is validated (dtype, shape × element size = byte range, range inside the file, no overlap
/// checks needed for reading) so a corrupt file throws instead of trapping.
public struct SafetensorsFile: Sendable {
    public let file: MappedFile
    public let tensors: [String: SafetensorsTensor]
    public let metadata: [String: String]
    let dataStart: Int

    static let elementSize = [
        "F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    ]

    public init(path: String) throws {
        file = try MappedFile(path: path)
        var r = ByteReader(file.bytes)
        let n = try r.read(UInt64.self, "safetensors header length")
        guard n <= 100_000_000 else {
            throw ModelFileError.implausibleCount(what: "safetensors header length", count: n)
        }
        try r.require(Int(n), "safetensors header")
        let headerBytes = Data(UnsafeRawBufferPointer(rebasing: file.bytes[8..<(8 + Int(n))]))
        dataStart = 8 + Int(n)
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw ModelFileError.invalidHeader("\(path): safetensors header is not a JSON object")
        }
        var tensors: [String: SafetensorsTensor] = [:]
        var metadata: [String: String] = [:]
        let dataSize = file.bytes.count - dataStart
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in value as? [String: Any] ?? [:] { metadata[k] = v as? String }
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw ModelFileError.invalidHeader("\(path): tensor \"\(name)\" has a malformed entry") }
            guard let size = Self.elementSize[dtype] else {
                throw ModelFileError.unsupportedDType(tensor: name, dtype: dtype)
            }
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard d >= 0, !o, p <= 1 << 40 else {
                    throw ModelFileError.badTensorShape(
                        tensor: name, dims: shape.map { UInt64(max($0, 0)) }, reason: "absurd size")
                }
                count = p
            }
            let (b, e) = (offsets[0], offsets[1])
            guard b >= 0, e >= b, e <= dataSize else {
                throw ModelFileError.tensorOutOfRange(
                    tensor: name, offset: UInt64(max(b, 0)), byteCount: UInt64(max(e - b, 0)),
                    fileSize: file.bytes.count)
            }
            guard e - b == count * size else {
                throw ModelFileError.badTensorShape(
                    tensor: name, dims: shape.map { UInt64($0) },
                    reason: "\(e - b) bytes for \(count) \(dtype) elements")
            }
            tensors[name] = SafetensorsTensor(name: name, dtype: dtype, shape: shape, range: b..<e)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor's bytes as stored.
    public func bytes(of t: SafetensorsTensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + t.range.lowerBound)..<(dataStart + t.range.upperBound)])
    }

    /// The tensor's dtype (F32, F16 or BF16) as the ``GGMLType`` of the same encoding.
    public static func type(of t: SafetensorsTensor) -> GGMLType? {
        switch t.dtype {
        case "F32": .f32
        case "F16": .f16
        case "BF16": .bf16
        default: nil
        }
    }

    /// Converts the tensor's elements (F32, F16 or BF16) to Float32 into `out`.
    public func read(_ t: SafetensorsTensor, into out: UnsafeMutablePointer<Float>) throws {
        guard let type = Self.type(of: t) else { throw ModelFileError.unsupportedDType(tensor: t.name, dtype: t.dtype) }
        Dequantize.run(type, bytes(of: t), count: t.shape.reduce(1, *), into: out)
    }
}
