import CQuant
import CRMANumerics
import Testing
@testable import CRMAModel

/// The AVX2 dequantizers of the common block types give the plain C code's values bit for bit, on random
/// blocks (every bit pattern of codes and scales; NaN only where both give NaN), in runs of several blocks.
/// (The other types have no vector path: crma_dequantize is the plain code for them.)
@Suite struct DequantizeKernelTests {
    @Test(arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q5_K, .q6_K])
    func vectorPathsEqualThePlainCode(type: GGMLType) {
        let count = 7 * 256
        var rng = SeededRandom(seed: UInt64(type.rawValue) + 1)
        let bytes = (0..<type.byteCount(elements: count)!).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var fast = [Float](repeating: 0, count: count), plain = fast
        bytes.withUnsafeBytes { raw in
            #expect(crma_dequantize(type.rawValue, raw.baseAddress, Int64(count), &fast) == 0)
            #expect(crma_dequantize_scalar(type.rawValue, raw.baseAddress, Int64(count), &plain) == 0)
        }
        let differing = zip(fast, plain).filter { a, b in a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) }
        #expect(differing.isEmpty, "\(differing.count) of \(count) values differ, e.g. \(differing.prefix(3))")
    }

    @Test func anUnknownTypeIsRefused() {
        var out = [Float](repeating: 0, count: 32)
        let bytes = [UInt8](repeating: 0, count: 64)
        bytes.withUnsafeBytes { #expect(crma_dequantize(99, $0.baseAddress, 32, &out) == -1) }
    }
}
