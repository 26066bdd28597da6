import CRMAAdapters
import CRMAModel
import CRMANumerics
import Foundation

/// What one optimizer step did.
public struct StepReport: Sendable, Equatable, Codable {
    public var step: Int
    public var loss: Double
    public var learningRateMultiplier: Float
    public var clip: [String: ClipReport]
    public var skipped: Bool
    public var crmaHealth: CRMAHealth?
    public var tokens: Int
    /// With learning without forgetting: the step's cross-entropy and KL terms (averaged over micro-batches).
    public var distillation: DistillationTerms?
}

/// Why a run stopped early.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case nonFinite(consecutive: Int, step: Int)

    public var description: String {
        switch self {
        case .nonFinite(let n, let step):
            "\(n) steps in a row had a non-finite loss or gradient (last at step \(step)); the adapter was left as it was before them. Lower the learning rates or check the data."
        }
    }
}

/// The training loop: gradient accumulation over the micro-batches of a step, non-finite guard, split clipping, AdamW, cosine schedule,
/// and CRMA's post-step clamp; health metrics every step.
public final class Trainer {
    public let pass: LlamaTrainingPass
    public let adapters: AdapterSet
    public let optimizer: AdamW
    public var clipper: GradientClipper
    public let schedule: CosineSchedule
    public private(set) var skippedSteps = 0
    /// Adds a regularizer after the backward pass (EWC): receives the trainable parameters (gradients
    /// already averaged), adds its gradient into them and returns its loss term.
    public var regularizer: (([Parameter]) -> Double)?
    /// Learning without forgetting: when set, every micro-batch's loss is distilled against the teacher.
    public var distillation: Distillation?
    /// When set, accumulates time per phase (forward, head, backward, optimizer).
    public var clock: PhaseClock? {
        didSet { pass.clock = clock }
    }
    private var consecutiveSkips = 0

    public init(
        model: LlamaModel, adapters: AdapterSet, config: OptimizerConfig, totalSteps: Int
    ) {
        self.adapters = adapters
        pass = LlamaTrainingPass(model: model, hooks: adapters)
        optimizer = AdamW(parameters: adapters.trainableParameters, config: config)
        clipper = GradientClipper(config: config)
        schedule = CosineSchedule(total: totalSteps, warmupFraction: config.warmupFraction)
    }

    /// Restores counters and clipping state from a checkpoint.
    func restore(skipped: Int, clipper: GradientClipper) {
        skippedSteps = skipped
        consecutiveSkips = 0
        self.clipper = clipper
    }

    /// One optimizer step over `microBatches` (gradients are averaged over them).
    public func step(_ microBatches: [TrainingBatch]) throws -> StepReport {
        let params = optimizer.parameters
        params.forEach { $0.zeroGrad() }
        var loss = 0.0
        var tokens = 0
        var terms: DistillationTerms?
        defer { pass.distillation = nil }
        for b in microBatches {
            if let d = distillation {
                pass.distillation = DistillationTarget(
                    teacherHidden: try d.teacher.hiddenStates(for: b), alpha: d.alpha, temperature: d.temperature)
            }
            loss += pass.forwardBackward(b)
            tokens += b.lossTokenCount
            if let t = pass.lastDistillation {
                let k = Double(microBatches.count)
                terms = DistillationTerms(
                    crossEntropy: (terms?.crossEntropy ?? 0) + t.crossEntropy / k, kl: (terms?.kl ?? 0) + t.kl / k)
            }
        }
        loss /= Double(microBatches.count)
        if microBatches.count > 1 {
            let s = 1 / Float(microBatches.count)
            for p in params { for i in 0..<p.count { p.grad[i] *= s } }
        }
        if let regularizer { loss += regularizer(params) }
        let step = optimizer.stepCount
        let finite = loss.isFinite && params.allSatisfy { p in (0..<p.count).allSatisfy { p.grad[$0].isFinite } }
        guard finite else {
            skippedSteps += 1
            consecutiveSkips += 1
            if consecutiveSkips >= optimizer.config.maxConsecutiveSkips {
                throw TrainingError.nonFinite(consecutive: consecutiveSkips, step: step)
            }
            return StepReport(
                step: step, loss: loss, learningRateMultiplier: 0, clip: [:], skipped: true,
                crmaHealth: adapters.crma?.health(), tokens: tokens, distillation: terms)
        }
        consecutiveSkips = 0
        clock?.enter("optimizer")
        defer { clock?.stop() }
        let clip = clipper.clip(params)
        let lr = schedule.multiplier(at: step)
        optimizer.step(lrMultiplier: lr)
        adapters.crma?.afterOptimizerStep()
        return StepReport(
            step: step, loss: loss, learningRateMultiplier: lr,
            clip: Dictionary(uniqueKeysWithValues: clip.map { ($0.key.rawValue, $0.value) }),
            skipped: false, crmaHealth: adapters.crma?.health(), tokens: tokens, distillation: terms)
    }
}
