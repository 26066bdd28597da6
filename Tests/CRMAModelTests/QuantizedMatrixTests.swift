import CRMANumerics
import Foundation
import Testing
@testable import CRMAModel

/// The quantized frozen base: a matrix kept in its file's blocks multiplies as its dequantized fp32 copy
/// does, panel by panel, across segments of different encodings; a model loaded that way computes the
/// fp32 model's logits at a fraction of its memory.
@Suite struct QuantizedMatrixTests {
    /// `rows` rows of `type`'s golden tensor (2 rows, checked against the `gguf` package's dequantizer in
    /// GGUFReaderTests), the two rows alternating with a varied pattern, and the row length.
    static func blocks(_ type: GGMLType, rows: Int) throws -> (bytes: [UInt8], cols: Int) {
        let g = try GGUFFile(path: Fixtures.path("gguf/golden-v3.gguf"))
        let t = try #require(g.tensor("t.\(type.name)"))
        let raw = g.data(of: t), rowBytes = raw.count / 2
        var out: [UInt8] = []
        for r in 0..<rows {
            let from = (r * r + r / 3) % 2
            out += raw[(from * rowBytes)..<((from + 1) * rowBytes)]
        }
        return (out, t.dims[0])
    }

    static func random(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in Float(rng.uniform(-1, 1)) }
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// Forward, accumulated forward, input gradient, row lookup and the widened copy of a 37-row matrix in
    /// panels of 16 rows (three panels, the last partial), against plain sgemm on the dequantized matrix.
    @Test(arguments: GGMLType.allCases)
    func multipliesAsItsDequantizedMatrix(type: GGMLType) throws {
        let rows = 37, m = 5
        let (bytes, cols) = try Self.blocks(type, rows: rows)
        let q = bytes.withUnsafeBytes { QuantizedMatrix(stacking: [(type, $0, rows)], cols: cols, panelRows: 16) }
        var w = [Float](repeating: 0, count: rows * cols)
        bytes.withUnsafeBytes { Dequantize.run(type, $0, count: rows * cols, into: &w) }
        #expect(q.widened().array == w)
        var row = [Float](repeating: 0, count: cols)
        q.widenRow(20, into: &row)
        #expect(row == Array(w[(20 * cols)..<(21 * cols)]))

        let x = Self.random(m * cols, seed: 1)
        var expected = [Float](repeating: 0, count: m * rows), got = expected
        BLAS.linear(x, rows: m, inFeatures: cols, weight: w, outFeatures: rows, into: &expected)
        q.linear(x, rows: m, into: &got, accumulate: false)
        let scale = expected.map(abs).max()!
        #expect(Self.maxDifference(got, expected) <= 1e-6 * scale)
        q.linear(x, rows: m, into: &got, accumulate: true)
        #expect(Self.maxDifference(got, expected.map { 2 * $0 }) <= 2e-6 * scale)

        // Decoding's few rows go row by row of W (fused dequantize-and-dot), accumulating or not.
        for few in [1, 3] {
            var fewGot = [Float](repeating: 1, count: few * rows)
            q.linear(x, rows: few, into: &fewGot, accumulate: true)
            let fewExpected = expected[0..<(few * rows)].map { $0 + 1 }
            #expect(Self.maxDifference(fewGot, fewExpected) <= 1e-5 * (scale + 1))
            q.linear(x, rows: few, into: &fewGot, accumulate: false)
            #expect(Self.maxDifference(fewGot, Array(expected[0..<(few * rows)])) <= 1e-5 * scale)
        }

        let dy = Self.random(m * rows, seed: 2)
        var dx = [Float](repeating: 0, count: m * cols), dxExpected = dx
        BLAS.sgemm(m: m, n: cols, k: rows, a: dy, lda: rows, b: w, ldb: cols, c: &dxExpected, ldc: cols)
        dx = [Float](repeating: 7, count: m * cols)  // overwritten, not added to
        q.inputGradient(dy, rows: m, into: &dx, accumulate: false)
        let dxScale = dxExpected.map(abs).max()!
        #expect(Self.maxDifference(dx, dxExpected) <= 1e-5 * dxScale)
        q.inputGradient(dy, rows: m, into: &dx, accumulate: true)
        #expect(Self.maxDifference(dx, dxExpected.map { 2 * $0 }) <= 2e-5 * dxScale)
    }

    /// q over k over v in three encodings, as Q4_K_M files stack them: each segment dequantizes with its
    /// own type, across panel boundaries that fall inside segments, and the GEMMs — decoding's rows too,
    /// split across the cores at a row inside a segment — multiply by the stacked matrix.
    @Test func stacksTensorsOfDifferentEncodings() throws {
        let parts: [(GGMLType, Int)] = [(.q4_K, 59), (.q6_K, 17), (.q5_K, 63)]
        var w: [Float] = [], all: [[UInt8]] = []
        var cols = 0
        for (type, rows) in parts {
            let (bytes, c) = try Self.blocks(type, rows: rows)
            cols = c
            var part = [Float](repeating: 0, count: rows * c)
            bytes.withUnsafeBytes { Dequantize.run(type, $0, count: rows * c, into: &part) }
            w += part
            all.append(bytes)
        }
        let q = all[0].withUnsafeBytes { a in
            all[1].withUnsafeBytes { b in
                all[2].withUnsafeBytes { c in
                    QuantizedMatrix(stacking: [(.q4_K, a, 59), (.q6_K, b, 17), (.q5_K, c, 63)], cols: cols, panelRows: 23)
                }
            }
        }
        #expect(q.segments.map(\.type) == [.q4_K, .q6_K, .q5_K])
        #expect(q.segments.map(\.rows) == [0..<59, 59..<76, 76..<139])
        #expect(q.widened().array == w)
        var slice = [Float](repeating: 0, count: 20 * cols)
        q.dequantize(rows: 58..<78, into: &slice)
        #expect(slice == Array(w[(58 * cols)..<(78 * cols)]))
        let rows = 139
        for m in [1, 5] {
            let x = Self.random(m * cols, seed: 3)
            var expected = [Float](repeating: 0, count: m * rows), got = expected
            BLAS.linear(x, rows: m, inFeatures: cols, weight: w, outFeatures: rows, into: &expected)
            q.linear(x, rows: m, into: &got, accumulate: false)
            #expect(Self.maxDifference(got, expected) <= 1e-5 * expected.map(abs).max()!, "\(m) rows")
        }
        let dy = Self.random(5 * rows, seed: 4)
        var dx = [Float](repeating: 0, count: 5 * cols), dxExpected = dx
        BLAS.sgemm(m: 5, n: cols, k: rows, a: dy, lda: rows, b: w, ldb: cols, c: &dxExpected, ldc: cols)
        q.inputGradient(dy, rows: 5, into: &dx, accumulate: false)
        #expect(Self.maxDifference(dx, dxExpected) <= 1e-5 * dxExpected.map(abs).max()!)
    }

    /// A source that can only give floats is refused by name, with what to do instead.
    @Test func aSourceWithoutStoredBlocksIsRefused() throws {
        struct FloatsOnly: LlamaWeightSource {
            let inner: HFModelDirectory
            var config: LlamaConfig { inner.config }
            func contains(_ t: LlamaTensor) -> Bool { inner.contains(t) }
            func read(_ t: LlamaTensor, shape: [Int], into out: UnsafeMutablePointer<Float>) throws {
                try inner.read(t, shape: shape, into: out)
            }
        }
        let source = FloatsOnly(inner: try HFModelDirectory(path: Fixtures.path("tiny-qwen/qwen2-f32")))
        #expect {
            _ = try LlamaModel(source: source, precision: .quantized)
        } throws: { error in
            "\(error)".contains("\"embedding\"") && "\(error)".contains("use base \"fp32\"")
        }
    }
}

/// Whole models with the quantized base against the fp32 model from the same file.
@Suite(.serialized) struct QuantizedBaseTests {
    /// Logits within `tolerance` of the fp32 model's: the same weights, but OpenBLAS picks its kernels by
    /// shape, and a panel is narrower than the whole matrix (real models' logits of about ±20 differed by
    /// up to 2.2e-4 after 18–30 layers).
    static func compare(path: String, tolerance: Float) throws -> (fp32: LlamaModel, quantized: LlamaModel) {
        let fp32 = try LanguageModel.load(path: path, precision: .fp32).model
        let quantized = try LanguageModel.load(path: path, precision: .quantized).model
        #expect(quantized.precision == .quantized)
        let ids: [Int32] = (0..<24).map { Int32(($0 * 7919 + 11) % fp32.config.vocabSize) }
        let a = fp32.logits(tokens: ids).array, b = quantized.logits(tokens: ids).array
        #expect(QuantizedMatrixTests.maxDifference(a, b) <= tolerance)
        // Decoding: one token at a time through the KV cache.
        let cache = KVCache(config: quantized.config, capacity: 8)
        var last: [Float] = []
        for t in ids.prefix(4) { last = quantized.logits(tokens: [t], cache: cache).array }
        let full = Array(b[(3 * fp32.config.vocabSize)..<(4 * fp32.config.vocabSize)])
        #expect(QuantizedMatrixTests.maxDifference(last, full) <= 1e-3)
        #expect(quantized.frozenWeight(.gateUp, layer: 1).array == fp32.weights.layers[1].gateUp.array)
        // q|k|v: Llama's q and k rows are moved back into Hugging Face order as bytes, as floats in fp32.
        #expect(quantized.frozenWeight(.qkv, layer: 1).array == fp32.weights.layers[1].qkv.array)
        #expect(quantized.frozenEmbedding().array == fp32.weights.embedding.array)
        return (fp32, quantized)
    }

    /// SmolLM2 (Q4_1, Q6_K head tied to the embedding): the fp32 model's logits, in a sixth of its memory.
    @Test func smolLM2() throws {
        let (fp32, quantized) = try Self.compare(path: RealModel.path, tolerance: 1e-3)
        let c = fp32.config
        let perLayer = [FrozenProjection.qkv, .wo, .gateUp, .down].reduce(0) { $0 + c.shape($1).out * c.shape($1).in }
        let fp32Bytes = 4 * (c.vocabSize * c.hiddenSize + c.layers * perLayer)
        let held = try #require(quantized.frozenMatrices).byteCount
        #expect(held * 5 < fp32Bytes, "\(held) bytes held against \(fp32Bytes) in fp32")
    }

    /// Gemma 3 270M (Q4_K_M: projections of several encodings stacked in one matrix).
    @Test func gemma3() throws {
        let (_, quantized) = try Self.compare(path: RealModel.gemmaPath, tolerance: 1e-3)
        let types = Set(try #require(quantized.frozenMatrices).layers.flatMap { l in
            [l.qkv, l.gateUp].compactMap { $0 as? QuantizedMatrix }.flatMap { $0.segments.map(\.type) }
        })
        #expect(types.count > 1, "\(types)")
    }

    /// A Hugging Face directory keeps its BF16 tensors as they are.
    @Test func bf16Directory() throws {
        let (_, quantized) = try Self.compare(path: Fixtures.path("tiny-qwen/qwen3-bf16"), tolerance: 1e-5)
        let qkv = try #require(quantized.frozenMatrices?.layers[0].qkv as? QuantizedMatrix)
        #expect(qkv.segments.allSatisfy { $0.type == .bf16 })
    }
}
