import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMANumerics
import CRMATestSupport
import CRMATraining
import Foundation
import CRMAWire
@testable import CRMABenchmark
import Testing
@testable import CRMAContinual

/// Learning without forgetting's loss on the tiny model: α = 1 is plain cross-entropy, α = 0 follows the
/// teacher, the gradient matches finite differences, and the cached teacher serves the live one's states.
@Suite struct DistillationTests {
    static func batch(_ lm: LanguageModel) -> TrainingBatch {
        SequencePacker.batch(Array(TinyDomains.make(lm)[1].train.prefix(2)))
    }

    /// A LoRA nudged away from zero so the student differs from the base model.
    static func student(_ lm: LanguageModel, scale: Float = 0.05) -> LoRA {
        let lora = LoRA(name: "s", config: LoRAConfig(rank: 4, alpha: 8, targets: [.q, .v, .o]), model: lm.model.config, seed: 3)
        var rng = SeededRandom(seed: 4)
        for p in lora.parameters { for i in 0..<p.count { p.value[i] += scale * Float(rng.uniform(-1, 1)) } }
        return lora
    }

    static func teacherStates(_ lm: LanguageModel, _ b: TrainingBatch) -> FloatBuffer {
        LiveTeacher(model: lm.model, adapters: AdapterSet()).hiddenStates(for: b)
    }

    @Test func alphaOneIsCrossEntropyWithItsGradient() throws {
        let lm = try TinyModels.load("llama-f32")
        let b = Self.batch(lm), lora = Self.student(lm)
        let adapters = AdapterSet(loras: [lora])
        let pass = LlamaTrainingPass(model: lm.model, hooks: adapters)
        adapters.zeroGradients()
        let plain = pass.forwardBackward(b)
        let plainGrads = lora.parameters.map(\.grad.array)
        pass.distillation = DistillationTarget(teacherHidden: Self.teacherStates(lm, b), alpha: 1, temperature: 2)
        adapters.zeroGradients()
        let distilled = pass.forwardBackward(b)
        #expect(abs(distilled - plain) < 1e-6 * plain)
        #expect(pass.lastDistillation.map { abs($0.crossEntropy - plain) < 1e-6 * plain } == true)
        #expect(pass.lastDistillation!.kl > 0)  // the student does differ from the teacher
        for (p, g) in zip(lora.parameters, plainGrads) {
            let scale = g.map(abs).max()! + 1e-12
            for i in 0..<p.count { #expect(abs(p.grad[i] - g[i]) <= 1e-5 * scale) }
        }
    }

    @Test func alphaZeroIsZeroAtTheTeacherAndPullsTheStudentToIt() throws {
        let lm = try TinyModels.load("llama-f32")
        let b = Self.batch(lm)
        let teacherHidden = Self.teacherStates(lm, b)
        // A student equal to the teacher (a LoRA whose B is zero): no loss, no gradient.
        let same = LoRA(name: "z", config: LoRAConfig(rank: 4, targets: [.q, .v]), model: lm.model.config, seed: 1)
        let samePass = LlamaTrainingPass(model: lm.model, hooks: AdapterSet(loras: [same]))
        samePass.distillation = DistillationTarget(teacherHidden: teacherHidden, alpha: 0, temperature: 2)
        let atTeacher = samePass.forwardBackward(b)
        #expect(abs(atTeacher) < 1e-5)
        #expect(same.parameters.allSatisfy { p in (0..<p.count).allSatisfy { abs(p.grad[$0]) < 1e-5 } })
        // A student pushed away from it is pulled back: KL falls under training with α = 0.
        let lora = Self.student(lm, scale: 0.3)
        let adapters = AdapterSet(loras: [lora])
        var opt = OptimizerConfig()
        opt.learningRates = [.proj: 2e-2, .structural: 5e-3, .gate: 2e-2]
        let trainer = Trainer(model: lm.model, adapters: adapters, config: opt, totalSteps: 30)
        trainer.distillation = Distillation(
            teacher: LiveTeacher(model: lm.model, adapters: AdapterSet()), alpha: 0, temperature: 2)
        let first = try trainer.step([b])
        var last = first
        for _ in 1..<30 { last = try trainer.step([b]) }
        let (kl0, kl1) = (first.distillation!.kl, last.distillation!.kl)
        #expect(kl1 < 0.3 * kl0, "KL \(kl0) → \(kl1)")
        #expect(abs(last.loss - 4 * kl1) < 1e-6 * max(last.loss, 1e-9))  // (1 − α)·T²·KL with T = 2
    }

    @Test func distilledGradientMatchesFiniteDifferences() throws {
        let lm = try TinyModels.load("llama-f32")
        let b = Self.batch(lm), lora = Self.student(lm)
        let adapters = AdapterSet(loras: [lora])
        let pass = LlamaTrainingPass(model: lm.model, hooks: adapters)
        // A teacher that is neither the base nor the student.
        let other = Self.student(lm, scale: 0.2)
        let teacher = LiveTeacher(model: lm.model, adapters: AdapterSet(loras: [other.frozenCopy()]))
        pass.distillation = DistillationTarget(teacherHidden: teacher.hiddenStates(for: b), alpha: 0.3, temperature: 2)
        let params = lora.parameters
        adapters.zeroGradients()
        pass.forwardBackward(b)
        let errors = DirectionalCheck.errors(values: params.map(\.value), grads: params.map(\.grad), seed: 9) {
            pass.forward(b)
        }
        #expect(errors.allSatisfy { $0 < 1e-2 }, "\(errors)")
    }

    @Test func theCachedTeacherServesTheLiveStatesAndSeparatesTeachers() throws {
        let lm = try TinyModels.load("llama-f32")
        let b = Self.batch(lm)
        let root = NSTemporaryDirectory() + "crma-teacher-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let teacherLoRA = Self.student(lm).frozenCopy()
        let live = LiveTeacher(model: lm.model, adapters: AdapterSet(loras: [teacherLoRA])).hiddenStates(for: b)
        let cached = try CachedTeacher(root: root, model: lm.model, adapters: AdapterSet(loras: [teacherLoRA]))
        let computed = try cached.hiddenStates(for: b)
        let again = try CachedTeacher(root: root, model: lm.model, adapters: AdapterSet(loras: [teacherLoRA]))
        let read = try again.hiddenStates(for: b)
        #expect(computed.array == live.array && read.array == live.array)
        #expect(cached.misses == 1 && again.hits == 1 && again.misses == 0)
        #expect(again.bytesOnDisk == live.count * 4)
        // Another teacher (the base model) gets its own directory and its own states.
        let base = try CachedTeacher(root: root, model: lm.model, adapters: AdapterSet())
        #expect(base.directory != cached.directory)
        #expect(try base.hiddenStates(for: b).array != live.array && base.misses == 1)
    }

    @Test func lwfLearnsTheSameWithALiveOrACachedTeacher() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = Array(TinyDomains.make(lm).prefix(2))
        let root = NSTemporaryDirectory() + "crma-lwf-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        var config = TinyDomains.config(.lwf)
        let live = try ContinualRun(model: lm.model, config: config).run(domains)
        config.lwfTeacher = .cached
        config.teacherCacheDirectory = root
        let cached = try ContinualRun(model: lm.model, config: config).run(domains)
        #expect(live.matrix.rows == cached.matrix.rows)
        let cost = try #require(cached.teacherCosts["numbers"])
        #expect(cost.mode == .cached && cost.bytesOnDisk > 0 && cost.prefillSeconds > 0)
        #expect(live.teacherCosts["numbers"]?.mode == .live)
        // Distillation holds the first domain closer to where it was than naive fine-tuning does.
        let naive = try ContinualRun(model: lm.model, config: TinyDomains.config(.naive)).run(domains)
        #expect(ForgettingMetrics.driftVsLearnTime(live.matrix, k: 1, j: 0) < ForgettingMetrics.driftVsLearnTime(naive.matrix, k: 1, j: 0))
    }
}

/// O-LoRA's orthogonality penalty and its use in the continual learner.
@Suite struct OrthogonalLoRATests {
    @Test func penaltyGradientMatchesFiniteDifferences() throws {
        let lm = try TinyModels.load("llama-f32")
        let config = LoRAConfig(rank: 3, targets: [.q, .down])
        let old = [1, 2].map { LoRA(name: "old\($0)", config: config, model: lm.model.config, seed: UInt64($0)) }
        let current = LoRA(name: "new", config: config, model: lm.model.config, seed: 7)
        let penalty = OrthogonalSubspacePenalty(lambda: 0.7, earlier: old, current: current)
        current.parameters.forEach { $0.zeroGrad() }
        let value = penalty.apply()
        #expect(value > 0)
        #expect(old.allSatisfy { $0.parameters.allSatisfy { p in (0..<p.count).allSatisfy { p.grad[$0] == 0 } } })
        let a = current.a[1][.down]!
        for i in [0, 5, a.count - 1] {
            let original = a.value[i], eps: Float = 1e-2
            a.value[i] = original + eps
            let plus = penalty.overlap()
            a.value[i] = original - eps
            let minus = penalty.overlap()
            a.value[i] = original
            let numeric = 0.7 * (plus - minus) / Double(2 * eps)
            #expect(abs(Double(a.grad[i]) - numeric) <= 1e-3 * max(abs(numeric), 1e-4), "\(a.grad[i]) vs \(numeric)")
        }
        // B matrices get no gradient from the penalty.
        #expect(current.b.allSatisfy { $0.values.allSatisfy { p in (0..<p.count).allSatisfy { p.grad[$0] == 0 } } })
    }

    @Test func everyLoRAScoresEveryDomainAndThePenaltyKeepsThemApart() throws {
        let lm = try TinyModels.load("llama-f32")
        let domains = Array(TinyDomains.make(lm).prefix(2))
        func learn(lambda: Float) throws -> LearnedState {
            var c = TinyDomains.config(.olora)
            c.oloraLambda = lambda
            return try ContinualRun(model: lm.model, config: c).run(domains).state
        }
        let olora = try learn(lambda: 5)
        #expect(olora.adapters(scoring: "animals", learnedWith: .olora).loras.map(\.name) == ["animals", "numbers"])
        #expect(olora.adapters(scoring: "numbers", learnedWith: .olora).loras.map(\.name) == ["animals", "numbers"])
        #expect(olora.substrate(for: .olora).loras.count == 2 && olora.crma == nil)
        #expect(olora.loras.values.allSatisfy { !$0.trainable })
        func overlap(_ l: LearnedState) -> Double {
            OrthogonalSubspacePenalty(lambda: 1, earlier: [l.loras["animals"]!], current: l.loras["numbers"]!).overlap()
        }
        let free = try learn(lambda: 0)
        #expect(overlap(olora) < 0.5 * overlap(free), "\(overlap(olora)) vs \(overlap(free))")
    }
}
