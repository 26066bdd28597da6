import CRMANumerics
import Foundation
import Testing
@testable import CRMAModel

/// Builds GGUF byte streams by hand so each test can break exactly one thing.
struct GGUFBytes {
    var data = Data()
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); data.append(contentsOf: Array(s.utf8)) }

    /// A valid header with one F32 tensor of `dims`, at `offset`, and `payload` bytes of data.
    static func oneTensor(
        magic: UInt32 = 0x4655_4747, version: UInt32 = 3, dims: [UInt64] = [4, 2], type: UInt32 = 0,
        offset: UInt64 = 0, payload: Int = 32, tensorCount: UInt64 = 1
    ) -> Data {
        var b = GGUFBytes()
        b.u32(magic); b.u32(version); b.u64(tensorCount); b.u64(1)
        b.str("general.architecture"); b.u32(8); b.str("llama")
        b.str("w"); b.u32(UInt32(dims.count)); dims.forEach { b.u64($0) }; b.u32(type); b.u64(offset)
        while b.data.count % 32 != 0 { b.data.append(0) }
        b.data.append(Data(count: payload))
        return b.data
    }
}

func parse(_ data: Data) throws -> GGUFFile {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("crma-gguf-\(UUID().uuidString)")
    try data.write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    return try GGUFFile(path: url.path)
}

@Suite struct GGUFHostileFileTests {
    @Test func handBuiltFileParses() throws {
        let g = try parse(GGUFBytes.oneTensor())
        #expect(g.tensors.first?.dims == [4, 2])
        #expect(g.floats(g.tensors[0]) == [Float](repeating: 0, count: 8))
    }

    /// An architecture this runtime does not know is refused with the ones it does (the list once named
    /// only llama and mistral).
    @Test func anUnknownArchitectureNamesTheSupportedOnes() throws {
        var w = GGUFWriter()
        w.add("general.architecture", .string("falcon"))
        #expect {
            _ = try GGUFLlamaSource(try parse(w.data()))
        } throws: { error in
            let message = "\(error)"
            return message.contains("\"falcon\"") && ["qwen2", "qwen3", "gemma3"].allSatisfy(message.contains)
        }
    }

    @Test func wrongMagic() {
        #expect(throws: ModelFileError.badMagic(found: 0x1234_5678)) {
            try parse(GGUFBytes.oneTensor(magic: 0x1234_5678))
        }
    }

    @Test func unsupportedVersion() {
        #expect(throws: ModelFileError.unsupportedVersion(1)) { try parse(GGUFBytes.oneTensor(version: 1)) }
        #expect(throws: ModelFileError.unsupportedVersion(99)) { try parse(GGUFBytes.oneTensor(version: 99)) }
    }

    @Test func unknownTensorType() {
        #expect(throws: ModelFileError.unknownTensorType(tensor: "w", raw: 77)) {
            try parse(GGUFBytes.oneTensor(type: 77))
        }
    }

    @Test func absurdTensorSizes() {
        #expect(throws: ModelFileError.self) { try parse(GGUFBytes.oneTensor(dims: [1 << 40, 1 << 40])) }
        #expect(throws: ModelFileError.self) { try parse(GGUFBytes.oneTensor(dims: [0, 2])) }
        #expect(throws: ModelFileError.self) { try parse(GGUFBytes.oneTensor(dims: [1, 1, 1, 1, 1])) }
    }

    @Test func tensorOffsetOutOfRange() {
        #expect(throws: ModelFileError.tensorOutOfRange(tensor: "w", offset: 64, byteCount: 32, fileSize: 160)) {
            try parse(GGUFBytes.oneTensor(offset: 64))
        }
    }

    @Test func misalignedOffset() {
        #expect(throws: ModelFileError.misalignedTensor(tensor: "w", offset: 3, alignment: 32)) {
            try parse(GGUFBytes.oneTensor(offset: 3))
        }
    }

    @Test func implausibleTensorCount() {
        #expect(throws: ModelFileError.implausibleCount(what: "tensor count", count: 1 << 40)) {
            try parse(GGUFBytes.oneTensor(tensorCount: 1 << 40))
        }
    }

    @Test func quantizedRowNotWholeBlocks() {
        #expect(throws: ModelFileError.self) { try parse(GGUFBytes.oneTensor(dims: [31, 1], type: 8)) }
    }

    @Test func emptyFile() {
        #expect(throws: ModelFileError.truncated(what: "magic", offset: 0)) { try parse(Data()) }
    }

    @Test func missingFileSaysSo() {
        #expect(throws: ModelFileError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
    }

    /// Every prefix of the golden file that cuts into the header or tensor data is rejected with a
    /// `ModelFileError` (only trailing alignment padding may be cut); none traps.
    @Test func everyTruncationIsRejected() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gguf/golden-v3.gguf")))
        let g = try parse(full)
        let dataEnd = g.tensors.map { g.dataOffset + $0.offset + $0.byteCount }.max()!
        #expect(dataEnd > full.count - 32)
        for n in stride(from: 0, to: dataEnd, by: 7) {
            #expect(throws: ModelFileError.self) { try parse(full.prefix(n)) }
        }
        #expect(throws: Never.self) { try parse(full.prefix(dataEnd)) }
    }

    /// Seeded random byte mutations of the golden file: parse either throws a `ModelFileError` or
    /// yields tensors that dequantize without trapping.
    @Test func mutatedCopiesNeverCrash() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gguf/golden-v3.gguf")))
        var rng = SeededRandom(seed: 7)
        var errors = 0
        for _ in 0..<400 {
            var d = full
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                // Bias mutations to the header, where the structure lives.
                let at = Int(rng.next() % UInt64(rng.next() % 2 == 0 ? 1100 : d.count))
                d[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            do {
                let g = try parse(d)
                for t in g.tensors { _ = g.floats(t) }
            } catch is ModelFileError { errors += 1 }
        }
        #expect(errors > 0)
    }
}
