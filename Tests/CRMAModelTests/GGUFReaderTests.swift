import Foundation
import Testing
@testable import CRMAModel

/// Fixtures under Fixtures/gguf were written by scripts/fixtures/make_gguf_golden.py with the `gguf`
/// PyPI package (0.19.0) as the reference reader and dequantizer.
enum Fixtures {
    static var root: URL { Bundle.module.resourceURL!.appendingPathComponent("Fixtures") }
    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }
    static func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: root.appendingPathComponent(name))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
    }
}

@Suite struct GGUFReaderTests {
    @Test(arguments: ["golden-v2.gguf", "golden-v3.gguf"])
    func readsEveryMetadataValueType(file: String) throws {
        let g = try GGUFFile(path: Fixtures.path("gguf/\(file)"))
        #expect(g.version == (file.contains("v2") ? 2 : 3))
        let m = g.metadata
        #expect(m["test.u8"] == .uint8(200))
        #expect(m["test.i8"] == .int8(-100))
        #expect(m["test.u16"] == .uint16(60000))
        #expect(m["test.i16"] == .int16(-30000))
        #expect(m["test.u32"] == .uint32(4_000_000_000))
        #expect(m["test.i32"] == .int32(-2_000_000_000))
        #expect(m["test.f32"] == .float32(1.5))
        #expect(m["test.u64"] == .uint64((1 << 63) + 5))
        #expect(m["test.i64"] == .int64(-(1 << 62)))
        #expect(m["test.f64"] == .float64(-2.25))
        #expect(m["test.bool"] == .bool(true))
        #expect(m["test.string"] == .string("héllo ✓"))
        #expect(m["test.array.i32"] == .array([.int32(1), .int32(-2), .int32(3)]))
        #expect(m["test.array.str"] == .array([.string("a"), .string("bc"), .string("")]))
        #expect(m["test.array.nested"] == .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        #expect(try g.string("general.architecture") == "llama")
    }

    @Test(arguments: GGMLType.allCases)
    func dequantizesLikeTheReference(type: GGMLType) throws {
        let g = try GGUFFile(path: Fixtures.path("gguf/golden-v3.gguf"))
        let t = try #require(g.tensor("t.\(type.name)"))
        #expect(t.type == type)
        let expected = try Fixtures.floats("gguf/\(type.name).f32")
        let got = g.floats(t)
        #expect(got.count == expected.count)
        var worst: Float = 0
        for (a, b) in zip(got, expected) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        #expect(worst <= 1e-6, "max relative error \(worst) for \(type.name)")
    }
}
