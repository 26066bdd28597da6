import CRMATestSupport
import CRMAAdapters
import CRMAModel
import CRMANumerics
import Foundation
import Testing
@testable import CRMATraining

@Suite struct CheckpointTests {
    func trainer(_ lm: LanguageModel, steps: Int) -> Trainer {
        let lora = LoRA(
            name: "d", config: LoRAConfig(rank: 4, targets: [.q, .v, .down]), model: lm.model.config, seed: 3)
        let crma = CRMA(config: CRMAConfig(), model: lm.model, seed: 3)
        var opt = OptimizerConfig()
        opt.learningRates = [.proj: 1e-2, .structural: 5e-3, .gate: 1e-2]
        opt.zclip = true
        return Trainer(model: lm.model, adapters: AdapterSet(loras: [lora], crma: crma), config: opt, totalSteps: steps)
    }

    @Test func resumingGivesBitIdenticalWeights() throws {
        let lm = try TinyModels.load("llama-f32")
        let docs = TinyModels.corpus(lm) + TinyModels.corpus(lm).map { TokenizedDocument(tokens: $0.tokens.reversed()) }
        let rows = SequencePacker(seqLen: 16, padToken: 0).pack(docs)
        // Uninterrupted: 12 steps.
        let a = trainer(lm, steps: 12)
        var sa = BatchSampler(rows: rows, batchSize: 2, seed: 9)
        for _ in 0..<12 { _ = try a.step([SequencePacker.batch(sa.next())]) }
        // Interrupted after 5 steps: checkpoint, a fresh process-like trainer, restore, 7 more.
        let b = trainer(lm, steps: 12)
        var sb = BatchSampler(rows: rows, batchSize: 2, seed: 9)
        for _ in 0..<5 { _ = try b.step([SequencePacker.batch(sb.next())]) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "crma-ckpt-\(UUID().uuidString).safetensors"
        ).path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TrainingCheckpoint.save(b, cursor: sb.cursor, to: path)
        let c = trainer(lm, steps: 12)
        var sc = BatchSampler(rows: rows, batchSize: 2, seed: 9)
        sc.seek(try TrainingCheckpoint.load(path, into: c))
        for _ in 0..<7 { _ = try c.step([SequencePacker.batch(sc.next())]) }
        #expect(c.optimizer.stepCount == 12)
        #expect(a.optimizer.parameters.map(\.value.array) == c.optimizer.parameters.map(\.value.array))
    }

    @Test func aCheckpointOfOtherAdaptersIsRefused() throws {
        let lm = try TinyModels.load("llama-f32")
        let a = trainer(lm, steps: 2)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "crma-ckpt-\(UUID().uuidString).safetensors"
        ).path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TrainingCheckpoint.save(a, cursor: BatchCursor(), to: path)
        let other = Trainer(
            model: lm.model,
            adapters: AdapterSet(loras: [LoRA(name: "x", config: LoRAConfig(rank: 2), model: lm.model.config, seed: 1)]
            ),
            config: OptimizerConfig(), totalSteps: 2)
        #expect(throws: TrainingCheckpoint.LoadError.self) { try TrainingCheckpoint.load(path, into: other) }
    }

    @Test func atomicWriteLeavesNoTemporaryFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crma-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("f.bin").path
        try AtomicFile.write(Data([1, 2, 3]), to: path)
        try AtomicFile.write(Data([4, 5]), to: path)
        #expect(FileManager.default.contents(atPath: path) == Data([4, 5]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["f.bin"])
    }
}
