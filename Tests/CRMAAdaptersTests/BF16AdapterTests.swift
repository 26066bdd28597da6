import CRMAModel
import CRMANumerics
import Foundation
import Testing
@testable import CRMAAdapters

/// Adapters on a bf16 model, whose fp32 GEMM weights are gone: CRMA's initialisation reads W_down widened
/// from bf16 (a copy that must outlive the read: with the real model's 3.5 MB buffer, a dangling pointer
/// crashed) and comes out as it does from the fp32 weights, up to bf16 rounding.
@Suite(.serialized, .enabled(if: BF16.available, "no AVX512-BF16, or no executable memory for oneDNN"))
struct BF16AdapterTests {
    static let path: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent(LanguageModel.defaultPath).path
    }()

    @Test func crmaInitialisesFromTheBF16Weights() throws {
        let half = try LanguageModel.load(path: Self.path, precision: .bf16)
        #expect(half.model.weights.layers[0].down.count == 0)
        let full = try LanguageModel.load(path: Self.path, precision: .fp32)
        let config = CRMAConfig()
        func r(_ model: LlamaModel) -> [Float] {
            CRMA(config: config, model: model, seed: 3).parameters.first { $0.name == "layers.0.crma.R" }!.value.array
        }
        let rA = r(half.model), rB = r(full.model)
        #expect(rA.allSatisfy { $0.isFinite })
        #expect(zip(rA, rB).map { abs($0 - $1) }.max()! < 0.05)
        // Orthonormal columns, as from fp32 weights.
        let d = half.model.config.hiddenSize, n = config.streams
        for i in 0..<n {
            let norm = (0..<d).reduce(Float(0)) { $0 + rA[$1 * n + i] * rA[$1 * n + i] }
            #expect(abs(norm - 1) < 1e-3)
        }
    }
}
