import CRMANumerics
import Foundation
import Testing
@testable import CRMAModel

/// The bf16 path (issue 14): rounding, the GEMMs against fp32 on the same rounded operands, and the model
/// in bf16 against fp32 — logits, perplexity and gradients. Skipped on CPUs without AVX512-BF16.
@Suite(.enabled(if: BF16.available, "no AVX512-BF16, or no executable memory for oneDNN"))
struct BF16Tests {
    @Test func roundsToNearestEvenAndKeepsSpecialValues() {
        let ulp: Float = 1.0 / 128  // bf16 keeps 7 mantissa bits: the spacing above 1
        #expect(BF16.rounded(1) == 1)
        #expect(BF16.rounded(1 + ulp / 2) == 1)  // a tie goes to the even mantissa
        #expect(BF16.rounded(1 + 1.5 * ulp) == 1 + 2 * ulp)
        #expect(BF16.rounded(1 + 0.75 * ulp) == 1 + ulp)
        #expect(BF16.rounded(-3.0) == -3)
        #expect(BF16.rounded(.infinity) == .infinity)
        #expect(BF16.rounded(.nan).isNaN)
        #expect(BF16.rounded(Float.greatestFiniteMagnitude) == .infinity)
    }

    /// Whole buffers are converted 16 at a time with vcvtneps2bf16 (the GEMMs' activations, the weights):
    /// the same rounding as the one-value rule above at every element, ties, infinities and NaN included,
    /// except that subnormal inputs become zero of their sign (the instruction's rule; they are below
    /// 1.2e-38).
    @Test func bufferConversionMatchesTheRoundingRule() {
        let ulp: Float = 1.0 / 128
        var values: [Float] = [1, 1 + ulp / 2, 1 + 1.5 * ulp, 1 + 0.75 * ulp, -3, .infinity, -.infinity, .nan,
            .greatestFiniteMagnitude, -0.0, 1e-39, -3e-40, .leastNormalMagnitude]
        var rng = SeededRandom(seed: 5)
        values += (0..<(40 - values.count)).map { _ in Float(rng.uniform(-100, 100)) }
        let widened = values.withUnsafeBufferPointer { BF16Matrix($0.baseAddress!, rows: 4, cols: 10) }.widened().array
        for (v, w) in zip(values, widened) {
            if v.isNaN {
                #expect(w.isNaN)
            } else if v.isSubnormal {
                #expect(w == 0 && w.sign == v.sign, "\(v) → \(w)")
            } else {
                #expect(w == BF16.rounded(v), "\(v) → \(w), not \(BF16.rounded(v))")
            }
        }
    }

    /// Both GEMMs equal fp32 sgemm on the bf16-rounded operands (only the summation order differs).
    /// Up to 4 rows take the matrix-vector kernel (decoding); its k-tails (k % 32, k < 32) are masked loads.
    @Test(arguments: [(7, 5, 3), (64, 96, 40), (33, 576, 192), (1, 576, 960), (3, 100, 70), (4, 1536, 130), (1, 5, 3)])
    func gemmsEqualFP32OnRoundedOperands(_ shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        var rng = SeededRandom(seed: UInt64(m * 1000 + k))
        let w = (0..<(n * k)).map { _ in Float(rng.uniform(-0.5, 0.5)) }
        let x = (0..<(m * k)).map { _ in Float(rng.uniform(-0.5, 0.5)) }
        let dy = (0..<(m * n)).map { _ in Float(rng.uniform(-0.5, 0.5)) }
        let wr = w.map(BF16.rounded), xr = x.map(BF16.rounded), dyr = dy.map(BF16.rounded)
        let matrix = w.withUnsafeBufferPointer { BF16Matrix($0.baseAddress!, rows: n, cols: k) }
        var y = [Float](repeating: 0.25, count: m * n), reference = y
        matrix.linear(x, rows: m, into: &y, accumulate: true)
        BLAS.linear(xr, rows: m, inFeatures: k, weight: wr, outFeatures: n, into: &reference, accumulate: true)
        #expect(zip(y, reference).allSatisfy { abs($0 - $1) <= 1e-5 * Float(k) })
        var dx = [Float](repeating: 9, count: m * k), dxReference = [Float](repeating: 0, count: m * k)
        matrix.inputGradient(dy, rows: m, into: &dx)
        BLAS.sgemm(m: m, n: k, k: n, a: dyr, lda: n, b: wr, ldb: k, c: &dxReference, ldc: k)
        #expect(zip(dx, dxReference).allSatisfy { abs($0 - $1) <= 1e-5 * Float(n) })
    }

    /// The two layouts hold the same values: the forward GEMM gives bit-identical results on either
    /// (oneDNN runs the same kernel on the same blocks), decoding's matrix-vector kernels agree with BLAS on
    /// the rounded operands, and rows and the whole matrix widen to the same floats — on shapes whose rows
    /// are not a multiple of 64 nor columns of 32 (the blocked layout's padding).
    @Test(arguments: [(37, 100, 70), (256, 576, 192), (9, 17, 129), (1, 576, 200), (4, 30, 65), (2, 1536, 576)])
    func blockedAndRowMajorLayoutsAgree(_ shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        var rng = SeededRandom(seed: UInt64(7 * m + k))
        let w = (0..<(n * k)).map { _ in Float(rng.uniform(-0.5, 0.5)) }
        let x = (0..<(m * k)).map { _ in Float(rng.uniform(-0.5, 0.5)) }
        let blocked = w.withUnsafeBufferPointer { BF16Matrix($0.baseAddress!, rows: n, cols: k, layout: .blocked) }
        let plain = w.withUnsafeBufferPointer { BF16Matrix($0.baseAddress!, rows: n, cols: k, layout: .rowMajor) }
        #expect(blocked.layout == .blocked && plain.layout == .rowMajor)
        #expect(blocked.byteCount == 2 * ((n + 63) / 64 * 64) * ((k + 31) / 32 * 32) && plain.byteCount == 2 * n * k)
        var yb = [Float](repeating: 0.5, count: m * n), yp = yb, reference = yb
        blocked.linear(x, rows: m, into: &yb, accumulate: true)
        plain.linear(x, rows: m, into: &yp, accumulate: true)
        BLAS.linear(
            x.map(BF16.rounded), rows: m, inFeatures: k, weight: w.map(BF16.rounded), outFeatures: n, into: &reference,
            accumulate: true)
        if m > BF16Matrix.vectorRows {
            #expect(yb == yp)
        }
        #expect(zip(yb, reference).allSatisfy { abs($0 - $1) <= 1e-5 * Float(k) })
        #expect(zip(yp, reference).allSatisfy { abs($0 - $1) <= 1e-5 * Float(k) })
        #expect(blocked.widened().array == plain.widened().array)
        var rowB = [Float](repeating: 0, count: k), rowP = rowB
        for r in [0, n / 2, n - 1] {
            blocked.widenRow(r, into: &rowB)
            plain.widenRow(r, into: &rowP)
            #expect(rowB == rowP && rowB == w[(r * k)..<((r + 1) * k)].map(BF16.rounded))
        }
    }

    /// The first input gradient converts a blocked matrix to row-major for good (training holds one
    /// copy, the one both of its GEMMs read); the values stay the same.
    @Test func theFirstInputGradientMakesTheMatrixRowMajor() {
        let (k, n) = (40, 70)
        let w = (0..<(n * k)).map { Float($0 % 13) / 16 - 0.4 }
        let matrix = w.withUnsafeBufferPointer { BF16Matrix($0.baseAddress!, rows: n, cols: k) }
        #expect(matrix.layout == .blocked, "blocked is the default")
        let before = matrix.widened().array
        var y = [Float](repeating: 0, count: 8 * n)
        matrix.linear([Float](repeating: 1, count: 8 * k), rows: 8, into: &y)
        #expect(matrix.layout == .blocked, "the forward pass keeps the layout")
        var dx = [Float](repeating: 0, count: 8 * k)
        matrix.inputGradient([Float](repeating: 1, count: 8 * n), rows: 8, into: &dx)
        #expect(matrix.layout == .rowMajor && matrix.byteCount == 2 * n * k)
        #expect(matrix.widened().array == before)
        var again = [Float](repeating: 0, count: 8 * n)
        matrix.linear([Float](repeating: 1, count: 8 * k), rows: 8, into: &again)
        #expect(again == y)
    }

    /// oneDNN runs its brgemm kernels on the blocked layout at the model's shapes, not its reference code
    /// (which accepts any layout at a hundredth of the speed: a silent fallback would go unnoticed here).
    @Test(arguments: [(256, 576, 1536), (1024, 576, 192), (256, 576, 49152), (5, 1536, 576)])
    func theBlockedLayoutRunsOnBrgemm(_ shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        let w = [Float](repeating: 0.25, count: n * k)
        let matrix = w.withUnsafeBufferPointer { BF16Matrix($0.baseAddress!, rows: n, cols: k) }
        #expect(matrix.implementation(rows: m, layout: .blocked).hasPrefix("brg"))
        #expect(matrix.implementation(rows: m, layout: .rowMajor).hasPrefix("brg"))
    }

    /// A bf16 model holds its GEMM weights and embedding only in bf16, and hands out their widened values.
    @Test func theGEMMWeightsLiveOnlyInBF16() throws {
        let fp32 = try LanguageModel.load(path: Fixtures.path("tiny/mistral-f16"))
        let bf16 = LlamaModel(config: fp32.model.config, weights: fp32.model.weights, precision: .bf16)
        let layer = bf16.weights.layers[1]
        #expect([layer.qkv, layer.wo, layer.gateUp, layer.down].allSatisfy { $0.count == 0 })
        #expect(bf16.weights.embedding.count == 0 && bf16.weights.outputHead.count == 0)
        #expect(bf16.frozenEmbedding().array == fp32.model.weights.embedding.array.map(BF16.rounded))
        #expect(fp32.model.weights.layers[1].down.count > 0, "the fp32 model keeps its own")
        #expect(bf16.frozenWeight(.down, layer: 1).array == fp32.model.weights.layers[1].down.array.map(BF16.rounded))
        #expect(bf16.frozenHead().array == fp32.model.weights.outputHead.array.map(BF16.rounded))
        #expect(fp32.model.frozenWeight(.qkv, layer: 0) === fp32.model.weights.layers[0].qkv)
    }

    /// Loading straight into bf16 (each weight converted as it is read) gives the model that converting a
    /// loaded fp32 model gives: same logits, bit for bit, tied head or not.
    @Test(arguments: ["tiny/llama-f32", "tiny/mistral-f16"])
    func loadingInBF16EqualsConvertingAfterLoading(_ name: String) throws {
        let fp32 = try LanguageModel.load(path: Fixtures.path(name))
        let converted = LlamaModel(config: fp32.model.config, weights: fp32.model.weights, precision: .bf16)
        let loaded = try LanguageModel.load(path: Fixtures.path(name), precision: .bf16).model
        #expect(loaded.precision == .bf16 && loaded.weights.layers[0].qkv.count == 0)
        let ids: [Int32] = (0..<16).map { Int32(($0 * 7 + 1) % fp32.model.config.vocabSize) }
        #expect(loaded.logits(tokens: ids).array == converted.logits(tokens: ids).array)
    }

    /// A bf16 model scores on the blocked layout and trains on the row-major one: its weights start
    /// blocked, stay so while it scores, and the first backward pass makes them row-major — with the same
    /// logits, bit for bit, on either side of the switch.
    @Test(arguments: ["tiny/llama-f32", "tiny/mistral-f16"])
    func scoringKeepsTheBlockedLayoutAndTrainingSwitchesIt(_ name: String) throws {
        let model = try LanguageModel.load(path: Fixtures.path(name), precision: .bf16).model
        let w = try #require(model.frozenMatrices)
        let all = (w.layers.flatMap { [$0.qkv, $0.wo, $0.gateUp, $0.down] } + [w.outputHead]).compactMap { $0 as? BF16Matrix }
        #expect(all.count == 4 * model.config.layers + 1)
        let ids: [Int32] = (0...16).map { Int32(($0 * 7 + 1) % model.config.vocabSize) }
        let before = model.logits(tokens: Array(ids.dropLast())).array
        #expect(all.allSatisfy { $0.layout == .blocked })
        let pass = LlamaTrainingPass(model: model, hooks: nil)
        _ = pass.forward(TrainingBatch.causal([ids], seqLen: 16))
        #expect(all.allSatisfy { $0.layout == .blocked }, "the forward pass keeps the layout")
        _ = pass.backward()
        #expect(all.allSatisfy { $0.layout == .rowMajor })
        #expect(model.logits(tokens: Array(ids.dropLast())).array == before)
    }

    /// The tiny model's logits in bf16 stay within bf16's rounding of fp32's.
    @Test func tinyModelLogitsAreCloseToFP32() throws {
        let fp32 = try LanguageModel.load(path: Fixtures.path("tiny/llama-f32"))
        let bf16 = LlamaModel(config: fp32.model.config, weights: fp32.model.weights, precision: .bf16)
        #expect(bf16.precision == .bf16 && fp32.model.precision == .fp32)
        let ids: [Int32] = (0..<24).map { Int32(($0 * 13 + 3) % fp32.model.config.vocabSize) }
        let a = fp32.model.logits(tokens: ids).array, b = bf16.logits(tokens: ids).array
        let scale = a.map(abs).max()!
        #expect(zip(a, b).map { abs($0 - $1) }.max()! < 0.05 * scale)
        #expect(zip(a, b).contains { $0 != $1 }, "the bf16 path was not taken")
    }

    /// The analytic gradient of the bf16 model (d loss / d embedding table) against the fp32 model's:
    /// along random directions against fp32 finite differences, and as a whole vector against fp32's
    /// analytic gradient. bf16 keeps 8 significant bits of every GEMM operand and of the embedding table,
    /// so a directional derivative (a sum with cancellations) moves by a few percent (measured: 5.7%, 1.0%
    /// and 0.2% along the three directions; fp32's own analytic gradient is within 0.09%), the whole
    /// gradient by 1.5% (its cosine to fp32's 0.9999): the training signal survives bf16.
    @Test func bf16GradientsMatchFP32FiniteDifferences() throws {
        let fp32 = try LanguageModel.load(path: Fixtures.path("tiny/mistral-f16"))
        let bf16 = LlamaModel(config: fp32.model.config, weights: fp32.model.weights, precision: .bf16)
        let c = fp32.model.config, T = 12, d = c.hiddenSize
        let ids: [Int32] = (0...T).map { Int32(($0 * 37 + 11) % c.vocabSize) }
        let batch = TrainingBatch.causal([ids], seqLen: T)
        func embeddingGradient(_ model: LlamaModel) -> [Float] {
            let pass = LlamaTrainingPass(model: model, hooks: nil)
            _ = pass.forward(batch)
            _ = pass.backward()
            var g = [Float](repeating: 0, count: c.vocabSize * d)
            for (i, t) in batch.tokens.enumerated() {
                for j in 0..<d { g[Int(t) * d + j] += pass.inputGradient[i * d + j] }
            }
            return g
        }
        let gradTable = embeddingGradient(bf16), exact = embeddingGradient(fp32.model)
        let dot = zip(gradTable, exact).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        let norm = { (v: [Float]) in v.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot() }
        let difference = norm(zip(gradTable, exact).map { $0 - $1 }) / norm(exact)
        #expect(dot / (norm(gradTable) * norm(exact)) > 0.999 && difference < 0.03, "relative L2 difference \(difference)")
        let reference = LlamaTrainingPass(model: fp32.model, hooks: nil)
        let table = fp32.model.weights.embedding
        let original = table.array
        defer { for i in 0..<table.count { table[i] = original[i] } }
        for u in GradCheck.directions(c.vocabSize * d, count: 3, seed: 9) {
            let eps: Float = 2e-3
            for i in 0..<table.count { table[i] = original[i] + eps * u[i] }
            let plus = reference.forward(batch)
            for i in 0..<table.count { table[i] = original[i] - eps * u[i] }
            let minus = reference.forward(batch)
            let numeric = (plus - minus) / Double(2 * eps)
            let analytic = zip(gradTable, u).reduce(0) { $0 + Double($1.0 * $1.1) }
            #expect(GradCheck.relativeError(analytic, numeric) < 8e-2, "analytic \(analytic) numeric \(numeric)")
        }
    }
}

/// The real model in bf16 against fp32 (the accuracy bar): the same argmax at ≥ 99% of positions
/// on fixed prompts, and rolling perplexity of the 10 KB test text within 0.5%.
@Suite(.serialized, .enabled(if: BF16.available, "no AVX512-BF16, or no executable memory for oneDNN"))
struct BF16RealModelTests {
    static func bf16(_ lm: LanguageModel) -> LanguageModel {
        LanguageModel(
            model: LlamaModel(config: lm.model.config, weights: lm.model.weights, precision: .bf16),
            tokenizer: lm.tokenizer, path: lm.path)
    }

    @Test func argmaxAgreesAtNinetyNinePercentOfPositions() throws {
        let lm = try RealModel.load(), half = Self.bf16(lm)
        let prompts = [
            "The patient was given amoxicillin for an ear infection because",
            "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
            "The licensee shall not sublicense the software to any third party without",
            "Photosynthesis converts light energy into chemical energy stored in glucose, which plants use",
        ]
        var same = 0, total = 0
        let V = lm.model.config.vocabSize
        for p in prompts {
            let ids = lm.tokenizer.encode(p)
            let a = lm.model.logits(tokens: ids).array, b = half.model.logits(tokens: ids).array
            for t in 0..<ids.count {
                let ra = a[(t * V)..<((t + 1) * V)], rb = b[(t * V)..<((t + 1) * V)]
                same += ra.firstIndex(of: ra.max()!)! - t * V == rb.firstIndex(of: rb.max()!)! - t * V ? 1 : 0
                total += 1
            }
        }
        #expect(Double(same) / Double(total) >= 0.99, "\(same) of \(total) positions agree")
    }

    @Test func rollingPerplexityWithinHalfAPercent() throws {
        let fx = try JSONDecoder().decode(
            PerplexityFixture.self,
            from: Data(contentsOf: Fixtures.root.appendingPathComponent("forward/perplexity.json")))
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: fx.source)).prefix(fx.bytes), as: UTF8.self)
        let lm = try RealModel.load()
        let a = Scorer(lm).scoreDocument(text, context: fx.context)
        let b = Scorer(Self.bf16(lm)).scoreDocument(text, context: fx.context)
        #expect(abs(b.perplexity / a.perplexity - 1) < 0.005, "bf16 \(b.perplexity) vs fp32 \(a.perplexity)")
    }
}
