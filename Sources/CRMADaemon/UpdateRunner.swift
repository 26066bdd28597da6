import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAMonitor
import CRMATraining
import Foundation

/// Trains one domain update and evaluates it: the pipeline of one job, independent of SQLite and
/// sockets. Training checkpoints every `checkpointInterval` steps and resumes from the last checkpoint;
/// `shouldStop` is polled at every step boundary.
public final class UpdateRunner {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let config: DaemonConfig

    public init(model: LlamaModel, tokenizer: Tokenizer, config: DaemonConfig) {
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
    }

    public struct Progress: Sendable {
        public var step: Int
        public var totalSteps: Int
        public var loss: Double
        public var tokensPerSecond: Double
        public var spectralExcess: Double?
    }

    public enum TrainOutcome: Equatable {
        /// The candidate adapters were written to this path; `unstable` when the stability check
        /// stopped training early because an earlier domain's holdout slice drifted past critical.
        case finished(candidate: String, unstable: StabilityStop?)
        /// Stopped at a step boundary (shutdown or cancel), checkpointed at this step.
        case stopped(step: Int)
    }

    var strategy: Strategy { config.training.strategy }

    public static let supportedStrategies: [Strategy] = [.crma, .crmaIdentity, .frozen, .naive, .lwf, .olora]

    var roles: AdapterRoles { AdapterRoles(strategy) }

    var loraConfig: LoRAConfig {
        LoRAConfig(
            rank: config.adapter.loraRank, alpha: config.adapter.loraAlpha,
            targets: config.adapter.loraTargets.compactMap(Projection.init(rawValue:)))
    }

    var optimizerConfig: OptimizerConfig {
        var o = OptimizerConfig()
        o.learningRates = [
            .proj: config.training.loraLearningRate, .structural: config.training.structuralLearningRate,
            .gate: config.training.gateLearningRate,
        ]
        return o
    }

    /// The adapters of a version (nil path: the base model without adapters).
    public func loadAdapters(_ path: String?) throws -> (loras: [String: LoRA], crma: CRMA?) {
        guard let path else { return ([:], nil) }
        let (loras, crma) = try AdapterFile.load(path, model: model)
        return (Dictionary(loras.map { ($0.name, $0) }, uniquingKeysWith: { $1 }), crma)
    }

    /// Trains `domain` on top of the parent's adapters. Deterministic for a job (seeded by `seed`), so a
    /// resumed run continues exactly where the checkpoint left it.
    /// The stability check during an update: every `monitor.check_interval` steps, each earlier
    /// domain's holdout slice is scored with the adapters as they are now.
    public struct StabilitySlices {
        public var rows: [String: [PackedRow]]
        public var references: [String: Double]
        public init(rows: [String: [PackedRow]], references: [String: Double]) {
            self.rows = rows
            self.references = references
        }
    }

    public func train(
        domain: String, data: UpdateData, parentAdapters: String?, jobDirectory: String, seed: UInt64,
        stability: StabilitySlices? = nil, onResume: (Int) -> Void = { _ in }, shouldStop: () -> Bool,
        progress: (Progress) -> Void
    ) throws -> TrainOutcome {
        try FileManager.default.createDirectory(atPath: jobDirectory, withIntermediateDirectories: true)
        var (loras, crma) = try loadAdapters(parentAdapters)
        // The model before this update (an independent copy), for lwf's teacher.
        let teacher = strategy == .lwf ? try teacherAdapters(parentAdapters, domain: domain) : nil
        let name = roles.loraName(for: domain)
        let lora = loras[name] ?? LoRA(name: name, config: loraConfig, model: model.config, seed: seed)
        if strategy.perDomainLoRA {
            // A domain learned again gets a fresh LoRA trained on all its documents.
            loras[name] = LoRA(name: name, config: loraConfig, model: model.config, seed: seed)
        } else {
            loras[name] = lora
        }
        let trained = loras[name]!
        trained.trainable = true
        if strategy.usesCRMA, crma == nil {
            var c = CRMAConfig()
            if strategy == .crmaIdentity || config.adapter.crmaMixing == "identity" { c.mixing = .identity }
            crma = CRMA(config: c, model: model, seed: seed &+ 17)
        }
        // A strategy without CRMA (frozen, naive, or a retry on the frozen substrate) keeps the parent's
        // substrate as it is, so the domains learned with it score exactly as before.
        crma?.trainable = strategy.usesCRMA
        let steps = config.training.steps
        let trainer = Trainer(
            model: model, adapters: roles.training(trained, loras: loras, crma: crma), config: optimizerConfig,
            totalSteps: steps)
        if strategy == .olora {
            let penalty = OrthogonalSubspacePenalty(
                lambda: config.training.oloraLambda, earlier: loras.values.filter { $0 !== trained }, current: trained)
            trainer.regularizer = { _ in penalty.apply() }
        }
        if let teacher {
            // The cache lives with the job: a resumed job reads the batches it already distilled.
            let source: any DistillationTeacher =
                config.training.lwfTeacher == .cached
                ? try CachedTeacher(root: "\(jobDirectory)/teacher", model: model, adapters: teacher)
                : LiveTeacher(model: model, adapters: teacher)
            trainer.distillation = Distillation(
                teacher: source, alpha: config.training.lwfAlpha, temperature: config.training.lwfTemperature)
        }
        guard !data.train.isEmpty else { throw UpdateError.noTrainingData(domain) }
        var sampler = BatchSampler(rows: data.train, batchSize: config.training.batchRows, seed: seed)
        let checkpoint = "\(jobDirectory)/checkpoint.safetensors"
        if FileManager.default.fileExists(atPath: checkpoint) {
            sampler.seek(try TrainingCheckpoint.load(checkpoint, into: trainer))
            onResume(trainer.optimizer.stepCount)
        }
        var step = trainer.optimizer.stepCount
        var window: [(Date, Int)] = []
        var unstable: StabilityStop?
        let interval = config.monitor.checkInterval
        while step < steps {
            if interval > 0, step > 0, step % interval == 0, let stability,
                let stop = unstableSlice(stability, loras: loras, crma: crma, step: step)
            {
                unstable = stop
                break
            }
            if shouldStop() {
                try TrainingCheckpoint.save(trainer, cursor: sampler.cursor, to: checkpoint)
                return .stopped(step: step)
            }
            let report = try trainer.step([SequencePacker.batch(sampler.next())])
            step += 1
            window.append((Date(), report.tokens))
            if window.count > 5 { window.removeFirst() }
            let tps =
                window.count > 1
                ? Double(window.dropFirst().map(\.1).reduce(0, +)) / window.last!.0.timeIntervalSince(window.first!.0)
                : 0
            if step % config.training.checkpointInterval == 0 || step == steps {
                try TrainingCheckpoint.save(trainer, cursor: sampler.cursor, to: checkpoint)
            }
            progress(
                Progress(
                    step: step, totalSteps: steps, loss: report.loss, tokensPerSecond: tps,
                    spectralExcess: report.crmaHealth?.maxSpectralExcess))
        }
        trained.trainable = false
        let candidate = "\(jobDirectory)/candidate.safetensors"
        try AdapterFile.save(loras: loras.keys.sorted().map { loras[$0]! }, crma: crma, to: candidate)
        return .finished(candidate: candidate, unstable: unstable)
    }

    /// The adapters that score `domain` (crma.md §6, ``AdapterRoles``).
    func adapters(scoring domain: String, loras: [String: LoRA], crma: CRMA?) -> AdapterSet {
        roles.scoring(domain, loras: loras, crma: crma)
    }

    /// lwf's teacher: the parent version as it scores `domain`, loaded again so it never moves.
    func teacherAdapters(_ parent: String?, domain: String) throws -> AdapterSet {
        let (loras, crma) = try loadAdapters(parent)
        loras.values.forEach { $0.trainable = false }
        crma?.trainable = false
        return adapters(scoring: domain, loras: loras, crma: crma)
    }

    /// The first earlier domain whose slice drifted beyond `monitor.critical_percent`, if any.
    func unstableSlice(_ s: StabilitySlices, loras: [String: LoRA], crma: CRMA?, step: Int) -> StabilityStop? {
        let slices = s.rows.sorted(by: { $0.key < $1.key }).compactMap { d, rows in
            s.references[d].map { StabilityCheck.Slice(domain: d, rows: rows, reference: $0) }
        }
        return StabilityCheck(criticalPercent: config.monitor.criticalPercent).firstUnstable(slices, step: step) {
            HoldoutScorer.score(model: model, adapters: adapters(scoring: $0.domain, loras: loras, crma: crma), rows: $0.rows).mean
        }
    }

    public struct Evaluation: Sendable {
        public var decision: GateDecision
        public var losses: [String: Double]
        public var newDomainLoss: Double
        public var newDomainBaseLoss: Double
        public var general: [String: Double]
        public var metrics: [MonitoredMetric]
    }

    /// Scores every earlier domain's holdout and the general benchmark with the candidate, and asks the
    /// gate. `references`: each earlier domain's loss when it was learned; `holdouts`: their rows.
    public func evaluate(
        domain: String, candidate: String, newHoldout: [PackedRow], references: [String: Double],
        holdouts: [String: [PackedRow]], general: [String], baseGeneral: Double?
    ) throws -> Evaluation {
        let (loras, crma) = try loadAdapters(candidate)
        func adapters(_ d: String) -> AdapterSet { self.adapters(scoring: d, loras: loras, crma: crma) }
        var metrics: [MonitoredMetric] = []
        var losses: [String: Double] = [:]
        for (d, reference) in references.sorted(by: { $0.key < $1.key }) where d != domain {
            guard let rows = holdouts[d], !rows.isEmpty else { continue }
            let loss = HoldoutScorer.score(model: model, adapters: adapters(d), rows: rows).mean
            losses[d] = loss
            metrics.append(MonitoredMetric(name: "holdout:\(d)", kind: .domain, value: loss, reference: reference))
        }
        let newLoss = HoldoutScorer.score(model: model, adapters: adapters(domain), rows: newHoldout).mean
        let baseLoss = HoldoutScorer.score(model: model, adapters: AdapterSet(), rows: newHoldout).mean
        losses[domain] = newLoss
        var generalScores: [String: Double] = [:]
        if !general.isEmpty, let baseGeneral {
            let substrate = roles.substrate(loras: loras, crma: crma)
            let bpb = GeneralBenchmarks(model: model, tokenizer: tokenizer, context: config.training.sequenceLength)
                .bitsPerByte(general, hooks: substrate)
            generalScores["bits_per_byte"] = bpb
            metrics.append(MonitoredMetric(name: "general:bits_per_byte", kind: .benchmark, value: bpb, reference: baseGeneral))
        }
        let decision = ForgettingGate.decide(
            metrics: metrics, newDomainLoss: newLoss, newDomainBaseLoss: baseLoss,
            thresholds: GateThresholds(warn: config.monitor.warnPercent, critical: config.monitor.criticalPercent))
        return Evaluation(
            decision: decision, losses: losses, newDomainLoss: newLoss, newDomainBaseLoss: baseLoss,
            general: generalScores, metrics: metrics)
    }

    /// Bits per byte of the base model on the general set (the fixed reference).
    public func baseGeneral(_ general: [String]) -> Double? {
        general.isEmpty
            ? nil
            : GeneralBenchmarks(model: model, tokenizer: tokenizer, context: config.training.sequenceLength)
                .bitsPerByte(general, hooks: nil)
    }
}

public enum UpdateError: Error, Equatable, CustomStringConvertible {
    case noTrainingData(String)
    case noHoldout(String)
    case unsupportedStrategy(String)

    public var description: String {
        switch self {
        case .noTrainingData(let d): "domain \(d) has no training documents; add more files to inbox/\(d)/"
        case .noHoldout(let d): "domain \(d) has no holdout documents; add more documents to inbox/\(d)/"
        case .unsupportedStrategy(let s):
            "the daemon trains with crma, crma-identity, frozen, naive, lwf or olora; \(s) is a benchmark-only strategy"
        }
    }
}
