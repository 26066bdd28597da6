import CRMAAdapters
import CRMAModel
import CRMANumerics
import CRMATestSupport
import CRMAWire
import Testing
@testable import CRMAMonitor

@Suite struct GeneralBenchmarksTests {
    let texts = [
        "The quick brown fox jumps over the lazy dog. " + String(repeating: "Again and again. ", count: 10),
        "def f(x):\n    return x + 1\n",
    ]

    @Test func bitsPerByteAgreesWithTheInferenceScorer() throws {
        let lm = try TinyModels.load("llama-f32")
        let bench = GeneralBenchmarks(model: lm.model, tokenizer: lm.tokenizer, context: 16)
        let viaTraining = bench.bitsPerByte(texts, hooks: nil)
        let scorer = Scorer(lm)
        let s = texts.map { scorer.scoreDocument($0, context: 16) }.reduce(DocumentScore(), +)
        #expect(abs(viaTraining - s.bitsPerByte) < 1e-4)
    }

    @Test func multipleChoicePicksTheMostLikelyContinuation() throws {
        let lm = try TinyModels.load("llama-f32")
        let bench = GeneralBenchmarks(model: lm.model, tokenizer: lm.tokenizer, context: 64)
        let scorer = Scorer(lm)
        // Gold = the choice the inference scorer finds most likely, so accuracy must be 1.
        var items: [MultipleChoiceItem] = []
        for (i, ctx) in ["The cat", "Numbers like", "def g("].enumerated() {
            let choices = [" sat on the mat", " 12 and 13", " x, y):", " hello"]
            let lls: [Double] = choices.map { c in
                let a = lm.tokenizer.encode(ctx, addBOS: false), b = lm.tokenizer.encode(c, addBOS: false)
                let input = Array((a + b).dropLast())
                return scorer.logProbabilities(input: input, targets: b, offset: input.count - b.count).reduce(0.0) {
                    $0 + Double($1)
                }
            }
            items.append(
                MultipleChoiceItem(
                    id: "\(i)", context: ctx, choices: choices, gold: lls.indices.max { lls[$0] < lls[$1] }!))
        }
        let (acc, _) = bench.multipleChoice(items, hooks: nil)
        #expect(acc == 1)
    }

    /// Before, a choice longer than the scoring window indexed before the window's start and crashed crmad
    /// (a HellaSwag ending of 71 tokens with `training.sequence_length = 64`).
    @Test func aChoiceLongerThanTheWindowIsScoredOnWhatFits() throws {
        let lm = try TinyModels.load("llama-f32")
        let bench = GeneralBenchmarks(model: lm.model, tokenizer: lm.tokenizer, context: 8)
        let long = String(repeating: " and then the dog ran", count: 6)
        #expect(lm.tokenizer.encode(long, addBOS: false).count > 8)
        let items = [MultipleChoiceItem(id: "0", context: "The cat", choices: [" sat", long], gold: 0)]
        let (acc, norm) = bench.multipleChoice(items, hooks: nil)
        #expect((0...1).contains(acc) && (0...1).contains(norm))
        let noContext = [MultipleChoiceItem(id: "1", context: "", choices: [" sat", long], gold: 1)]
        _ = bench.multipleChoice(noContext, hooks: nil)
    }

    @Test func distributionShiftIsZeroForAnIdentityAdapterAndPositiveOtherwise() throws {
        let lm = try TinyModels.load("llama-f32")
        let bench = GeneralBenchmarks(model: lm.model, tokenizer: lm.tokenizer, context: 32)
        let identity = AdapterSet(crma: CRMA(config: CRMAConfig(), model: lm.model, seed: 1))
        let same = bench.distributionShift(probes: texts, hooks: identity)
        #expect(abs(same.kl) < 1e-6 && same.top1Agreement == 1)
        let lora = LoRA(name: "x", config: LoRAConfig(rank: 4, targets: [.q, .down]), model: lm.model.config, seed: 2)
        for p in lora.parameters where p.name.hasSuffix("lora_B") {
            for i in 0..<p.count { p.value[i] = 0.2 * Float(i % 5 - 2) }
        }
        let shifted = bench.distributionShift(probes: texts, hooks: AdapterSet(loras: [lora]))
        #expect(shifted.kl > 1e-3)
        #expect(shifted.top1Agreement < 1)
    }
}
