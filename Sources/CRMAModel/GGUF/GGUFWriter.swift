import Foundation

/// Writes a GGUF file (version 3, little-endian): metadata in the order added, then tensor infos and the
/// aligned tensor data. Tensors are raw bytes of a ggml type (F32 values, or a source file's blocks copied
/// as they are), shaped in ggml order (`dims[0]` the row length).
public struct GGUFWriter {
    private var metadata: [(String, GGUFValue)] = []
    private var tensors: [(name: String, dims: [Int], type: GGMLType, data: Data)] = []
    public let alignment: Int

    public init(alignment: Int = 32) { self.alignment = alignment }

    public mutating func add(_ key: String, _ value: GGUFValue) { metadata.append((key, value)) }

    /// A tensor of `type` whose bytes are `data` (`dims` in ggml order).
    public mutating func add(tensor name: String, dims: [Int], type: GGMLType, data: Data) {
        precondition(type.byteCount(elements: dims.reduce(1, *)) == data.count, "\(name): \(data.count) bytes for \(dims) \(type)")
        tensors.append((name, dims, type, data))
    }

    /// An F32 tensor from row-major values of shape `[rows × columns]` (ggml dims `[columns, rows]`).
    public mutating func add(tensor name: String, rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns)
        add(tensor: name, dims: [columns, rows], type: .f32, data: values.withUnsafeBytes { Data($0) })
    }

    public func data() -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) {
            u64(UInt64(s.utf8.count))
            out.append(contentsOf: Array(s.utf8))
        }
        func tag(_ v: GGUFValue) -> GGUFValueTag {
            switch v {
            case .uint8: .uint8
            case .int8: .int8
            case .uint16: .uint16
            case .int16: .int16
            case .uint32: .uint32
            case .int32: .int32
            case .uint64: .uint64
            case .int64: .int64
            case .float32: .float32
            case .float64: .float64
            case .bool: .bool
            case .string: .string
            case .array: .array
            }
        }
        func value(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): out.append(x)
            case .int8(let x): out.append(UInt8(bitPattern: x))
            case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .int16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .uint32(let x): u32(x)
            case .int32(let x): u32(UInt32(bitPattern: x))
            case .uint64(let x): u64(x)
            case .int64(let x): u64(UInt64(bitPattern: x))
            case .float32(let x): u32(x.bitPattern)
            case .float64(let x): u64(x.bitPattern)
            case .bool(let x): out.append(x ? 1 : 0)
            case .string(let s): string(s)
            case .array(let items):
                // An array holds one element type; an empty one is written as an array of uint8.
                u32(items.first.map { tag($0).rawValue } ?? GGUFValueTag.uint8.rawValue)
                u64(UInt64(items.count))
                for item in items { value(item) }
            }
        }
        u32(GGUFFile.magic)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.filter { $0.0 != "general.alignment" }.count + (alignment == 32 ? 0 : 1)))
        if alignment != 32 {
            string("general.alignment")
            u32(GGUFValueTag.uint32.rawValue)
            u32(UInt32(alignment))
        }
        for (key, v) in metadata where key != "general.alignment" {
            string(key)
            u32(tag(v).rawValue)
            value(v)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.data.count + alignment - 1) / alignment * alignment
        }
        for (t, o) in zip(tensors, offsets) {
            string(t.name)
            u32(UInt32(t.dims.count))
            for d in t.dims { u64(UInt64(d)) }
            u32(t.type.rawValue)
            u64(UInt64(o))
        }
        func pad() { out.append(contentsOf: [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)) }
        pad()
        for t in tensors {
            out.append(t.data)
            pad()
        }
        return out
    }
}
