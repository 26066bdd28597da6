/// Where one tensor lives in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions in ggml order: `dims[0]` is the fastest-varying (row length).
    public let dims: [Int]
    public let type: GGMLType
    /// Offset from the start of the tensor data section.
    public let offset: Int
    public var elementCount: Int { dims.reduce(1, *) }
    public var byteCount: Int { type.byteCount(elements: elementCount) ?? 0 }
}

/// A parsed, memory-mapped GGUF file (versions 2 and 3, little-endian).
///
/// Parsing validates everything a later read depends on: counts, string lengths, value types, tensor
/// types and shapes, alignment and that every tensor lies inside the file. A malformed file throws a
/// ``ModelFileError``; it never traps.
public struct GGUFFile: Sendable {
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute file offset of the tensor data section.
    public let dataOffset: Int
    public let file: MappedFile
    private let tensorIndex: [String: Int]

    static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
    /// Limits that reject corrupt counts before they allocate.
    static let maxItems: UInt64 = 1 << 24
    static let maxStringBytes: UInt64 = 1 << 26
    static let maxArrayDepth = 8

    /// Opens and validates the GGUF file at `path`.
    public init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        var r = ByteReader(file.bytes)
        let magic = try r.read(UInt32.self, "magic")
        guard magic == Self.magic else { throw ModelFileError.badMagic(found: magic) }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw ModelFileError.unsupportedVersion(version) }
        let tensorCount = try r.read(UInt64.self, "tensor count")
        let kvCount = try r.read(UInt64.self, "metadata count")
        guard tensorCount <= Self.maxItems else {
            throw ModelFileError.implausibleCount(what: "tensor count", count: tensorCount)
        }
        guard kvCount <= Self.maxItems else {
            throw ModelFileError.implausibleCount(what: "metadata count", count: kvCount)
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<Int(kvCount) {
            let key = try Self.readString(&r, "metadata key")
            let tag = try r.read(UInt32.self, "value type of \(key)")
            let value = try Self.readValue(&r, tag: tag, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else { throw ModelFileError.duplicateKey(key) }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw ModelFileError.badAlignment(UInt64(a.int ?? 0))
            }
            alignment = v
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for _ in 0..<Int(tensorCount) {
            let name = try Self.readString(&r, "tensor name")
            let nDims = try r.read(UInt32.self, "dimension count of \(name)")
            guard (1...4).contains(nDims) else {
                throw ModelFileError.badTensorShape(
                    tensor: name, dims: [], reason: "\(nDims) dimensions (1 to 4 allowed)")
            }
            var raw: [UInt64] = []
            for d in 0..<Int(nDims) { raw.append(try r.read(UInt64.self, "dimension \(d) of \(name)")) }
            let typeRaw = try r.read(UInt32.self, "type of \(name)")
            let offset = try r.read(UInt64.self, "offset of \(name)")
            guard let type = GGMLType(rawValue: typeRaw) else {
                throw ModelFileError.unknownTensorType(tensor: name, raw: typeRaw)
            }
            var count: UInt64 = 1
            for d in raw {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard d > 0, !o, p <= 1 << 40 else {
                    throw ModelFileError.badTensorShape(tensor: name, dims: raw, reason: "zero or absurdly large")
                }
                count = p
            }
            guard raw[0] % UInt64(type.blockSize) == 0 else {
                throw ModelFileError.badTensorShape(
                    tensor: name, dims: raw,
                    reason: "row length is not a multiple of \(type.name)'s block size \(type.blockSize)")
            }
            guard offset % UInt64(alignment) == 0 else {
                throw ModelFileError.misalignedTensor(tensor: name, offset: offset, alignment: alignment)
            }
            guard offset <= 1 << 48 else {
                throw ModelFileError.tensorOutOfRange(
                    tensor: name, offset: offset, byteCount: 0, fileSize: file.bytes.count)
            }
            guard index.updateValue(infos.count, forKey: name) == nil else {
                throw ModelFileError.duplicateTensor(name)
            }
            infos.append(GGUFTensorInfo(name: name, dims: raw.map { Int($0) }, type: type, offset: Int(offset)))
        }
        let headerEnd = r.offset
        dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        for t in infos {
            let bytes = t.byteCount
            let (end, o) = (dataOffset + t.offset).addingReportingOverflow(bytes)
            guard !o, end <= file.bytes.count else {
                throw ModelFileError.tensorOutOfRange(
                    tensor: t.name, offset: UInt64(t.offset), byteCount: UInt64(bytes), fileSize: file.bytes.count)
            }
        }
        tensors = infos
        tensorIndex = index
    }

    /// The tensor called `name`, if present.
    public func tensor(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor (validated to lie inside the file at open time).
    public func data(of t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + t.offset
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + t.byteCount)])
    }

    /// Dequantizes a whole tensor to Float32, in file order (row-major over `dims` reversed).
    public func floats(_ t: GGUFTensorInfo) -> [Float] {
        [Float](unsafeUninitializedCapacity: t.elementCount) { buf, n in
            Dequantize.run(t.type, data(of: t), count: t.elementCount, into: buf.baseAddress!)
            n = t.elementCount
        }
    }

    // MARK: - Metadata accessors

    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw ModelFileError.missingMetadata(key) }
        guard let i = v.int else { throw ModelFileError.wrongMetadataType(key: key, expected: "integer") }
        return i
    }

    public func double(_ key: String) throws -> Double {
        guard let v = metadata[key] else { throw ModelFileError.missingMetadata(key) }
        guard let d = v.double else { throw ModelFileError.wrongMetadataType(key: key, expected: "number") }
        return d
    }

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw ModelFileError.missingMetadata(key) }
        guard let s = v.string else { throw ModelFileError.wrongMetadataType(key: key, expected: "string") }
        return s
    }

    // MARK: - Parsing

    static func readString(_ r: inout ByteReader, _ what: String) throws -> String {
        let n = try r.read(UInt64.self, "length of \(what)")
        guard n <= maxStringBytes else { throw ModelFileError.implausibleCount(what: "length of \(what)", count: n) }
        return try r.readString(byteCount: Int(n), what)
    }

    static func readValue(_ r: inout ByteReader, tag: UInt32, key: String, depth: Int) throws -> GGUFValue {
        guard let t = GGUFValueTag(rawValue: tag) else { throw ModelFileError.unknownValueType(key: key, raw: tag) }
        switch t {
        case .uint8: return .uint8(try r.read(UInt8.self, key))
        case .int8: return .int8(try r.read(Int8.self, key))
        case .uint16: return .uint16(try r.read(UInt16.self, key))
        case .int16: return .int16(try r.read(Int16.self, key))
        case .uint32: return .uint32(try r.read(UInt32.self, key))
        case .int32: return .int32(try r.read(Int32.self, key))
        case .uint64: return .uint64(try r.read(UInt64.self, key))
        case .int64: return .int64(try r.read(Int64.self, key))
        case .float32: return .float32(try r.readFloat(key))
        case .float64: return .float64(try r.readDouble(key))
        case .bool:
            let b = try r.read(UInt8.self, key)
            guard b <= 1 else { throw ModelFileError.invalidHeader("boolean \(key) has value \(b)") }
            return .bool(b == 1)
        case .string: return .string(try readString(&r, "value of \(key)"))
        case .array:
            guard depth < maxArrayDepth else {
                throw ModelFileError.invalidHeader("arrays nested too deeply in \(key)")
            }
            let elementTag = try r.read(UInt32.self, "element type of \(key)")
            let n = try r.read(UInt64.self, "length of \(key)")
            // Every element takes at least one byte: a count beyond the remaining bytes is corrupt.
            guard n <= maxItems, n <= UInt64(r.remaining) else {
                throw ModelFileError.implausibleCount(what: "length of array \(key)", count: n)
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { items.append(try readValue(&r, tag: elementTag, key: key, depth: depth + 1)) }
            return .array(items)
        }
    }
}
