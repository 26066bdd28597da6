import CRMAAdapters
import CRMAModel
import CRMANumerics
import CRMATraining

/// One domain's data for a continual run.
public struct DomainData: Sendable {
    public var name: String
    public var train: [PackedRow]
    public var holdout: [PackedRow]

    public init(name: String, train: [PackedRow], holdout: [PackedRow]) {
        self.name = name
        self.train = train
        self.holdout = holdout
    }
}

/// Learns domains one after another with a strategy, and tells which adapters score each domain
/// (crma.md §6, ``AdapterRoles``): per-domain LoRAs for frozen/crma/crma-identity (with the current
/// substrate for the crma ones), the shared LoRA for naive/replay/ewc/lwf, every LoRA summed for olora.
public final class ContinualLearner {
    public let model: LlamaModel
    public let config: ContinualConfig
    public let roles: AdapterRoles
    public private(set) var domains: [String] = []
    /// Every LoRA by name: one per learned domain (frozen once learned), or the one named "shared".
    public private(set) var loras: [String: LoRA] = [:]
    public let crma: CRMA?
    public let ewc: ElasticWeightConsolidation?
    private var replayRows: [PackedRow] = []
    /// Holdout slices of learned domains and their loss when learned, for the stability check.
    private var slices: [StabilityCheck.Slice] = []
    /// Updates the stability check stopped early, by the domain being learned.
    public private(set) var stabilityStops: [String: StabilityStop] = [:]
    /// lwf: what the teachers cost, by the domain being learned.
    public private(set) var teacherCosts: [String: TeacherCost] = [:]

    public init(model: LlamaModel, config: ContinualConfig) {
        self.model = model
        self.config = config
        roles = AdapterRoles(config.strategy)
        var crmaConfig = config.crma
        if config.strategy == .crmaIdentity { crmaConfig.mixing = .identity }
        crma = config.strategy.usesCRMA ? CRMA(config: crmaConfig, model: model, seed: config.seed) : nil
        ewc =
            config.strategy == .ewc
            ? ElasticWeightConsolidation(lambda: config.ewcLambda, onlineGamma: config.ewcOnlineGamma) : nil
    }

    /// Trains on `domain`; returns the per-step reports.
    @discardableResult
    public func learn(_ domain: DomainData, onStep: ((StepReport) -> Void)? = nil) throws -> [StepReport] {
        precondition(!domains.contains(domain.name), "domain \(domain.name) was already learned")
        let k = UInt64(domains.count)
        let name = roles.loraName(for: domain.name)
        let lora: LoRA
        if config.strategy.perDomainLoRA {
            lora = LoRA(name: name, config: config.lora, model: model.config, seed: config.seed &+ 1000 &* (k + 1))
            for other in loras.values { other.trainable = false }
        } else {
            lora = loras[name] ?? LoRA(name: name, config: config.lora, model: model.config, seed: config.seed &+ 1000)
        }
        // lwf's teacher: the model as it is before this update (copies: they must not move).
        let before =
            config.strategy == .lwf ? AdapterSet(loras: loras.values.map { $0.frozenCopy() }, crma: nil) : nil
        loras[name] = lora
        lora.trainable = true
        let adapters = roles.training(lora, loras: loras, crma: crma)
        let trainer = Trainer(
            model: model, adapters: adapters, config: config.optimizer, totalSteps: config.stepsPerDomain)
        if let ewc { trainer.regularizer = { ewc.apply($0) } }
        if config.strategy == .olora {
            let penalty = OrthogonalSubspacePenalty(
                lambda: config.oloraLambda, earlier: loras.values.filter { $0 !== lora }, current: lora)
            trainer.regularizer = { _ in penalty.apply() }
        }
        var sampler = BatchSampler(rows: domain.train, batchSize: config.batchRows, seed: config.seed &+ k)
        if let before {
            trainer.distillation = try distillation(
                domain: domain.name, teacher: before, schedule: sampler, steps: config.stepsPerDomain)
        }
        var replay =
            replayRows.isEmpty ? nil : BatchSampler(rows: replayRows, batchSize: 1, seed: config.seed &+ 7 &* (k + 1))
        let replayCount =
            config.strategy == .replay ? Int((Double(config.batchRows) * config.replayRatio).rounded()) : 0
        var reports: [StepReport] = []
        let check = config.stabilityCheck
        let started = ContinuousClock.now
        for step in 0..<config.stepsPerDomain {
            if check.interval > 0, step > 0, step % check.interval == 0,
                let stop = check.firstUnstable(slices, step: step, score: {
                    HoldoutScorer.score(model: model, adapters: self.adapters(evaluating: $0.domain), rows: $0.rows).mean
                })
            {
                stabilityStops[domain.name] = stop
                break
            }
            var rows = sampler.next()
            if replayCount > 0, var r = replay {
                for i in 0..<min(replayCount, rows.count) { rows[rows.count - 1 - i] = r.next()[0] }
                replay = r
            }
            let report = try trainer.step([SequencePacker.batch(rows)])
            reports.append(report)
            onStep?(report)
        }
        if var cost = teacherCosts[domain.name] {
            cost.trainingSeconds = (ContinuousClock.now - started).seconds
            teacherCosts[domain.name] = cost
        }
        if config.strategy.perDomainLoRA { lora.trainable = false }
        if let ewc {
            var s = BatchSampler(rows: domain.train, batchSize: config.batchRows, seed: config.seed &+ 99 &+ k)
            ewc.consolidate(
                params: lora.parameters, pass: trainer.pass,
                batches: (0..<config.fisherBatches).map { _ in SequencePacker.batch(s.next()) })
        }
        if config.strategy == .replay { replayRows += domain.train }
        domains.append(domain.name)
        if check.interval > 0 {
            let rows = Array(domain.holdout.prefix(check.sliceRows))
            slices.append(
                StabilityCheck.Slice(
                    domain: domain.name, rows: rows,
                    reference: HoldoutScorer.score(
                        model: model, adapters: self.adapters(evaluating: domain.name), rows: rows
                    ).mean))
        }
        return reports
    }

    /// lwf's teacher for one domain: live, or cached on disk and computed ahead for the whole schedule.
    private func distillation(domain: String, teacher: AdapterSet, schedule: BatchSampler, steps: Int) throws
        -> Distillation
    {
        let source: any DistillationTeacher
        var cost = TeacherCost(mode: config.lwfTeacher)
        switch config.lwfTeacher {
        case .live:
            source = LiveTeacher(model: model, adapters: teacher)
        case .cached:
            guard let root = config.teacherCacheDirectory else {
                throw ContinualError.noTeacherCache
            }
            let cached = try CachedTeacher(root: root, model: model, adapters: teacher)
            var s = schedule
            let started = ContinuousClock.now
            try cached.prefill((0..<steps).map { _ in SequencePacker.batch(s.next()) })
            cost.prefillSeconds = (ContinuousClock.now - started).seconds
            cost.bytesOnDisk = cached.bytesOnDisk
            source = cached
        }
        teacherCosts[domain] = cost
        return Distillation(teacher: source, alpha: config.lwfAlpha, temperature: config.lwfTemperature)
    }

    /// The adapters that score `domain`'s holdout now (no LoRA: the base model).
    public func adapters(evaluating domain: String) -> AdapterSet { roles.scoring(domain, loras: loras, crma: crma) }

    /// What is active without a domain id, for the general benchmarks (``AdapterRoles/substrate(loras:crma:)``).
    public func substrate() -> AdapterSet { roles.substrate(loras: loras, crma: crma) }
}

/// What lwf's teacher cost while one domain was learned.
public struct TeacherCost: Sendable, Codable, Equatable {
    public var mode: TeacherMode
    /// Seconds computing the cached teacher ahead of training (0 when live).
    public var prefillSeconds = 0.0
    /// Seconds of the training loop (which includes the live teacher's forward passes).
    public var trainingSeconds = 0.0
    /// Bytes of cached teacher states on disk (0 when live).
    public var bytesOnDisk = 0
}

public enum ContinualError: Error, CustomStringConvertible {
    case noTeacherCache

    public var description: String {
        switch self {
        case .noTeacherCache: "lwf with a cached teacher needs a cache directory (teacherCacheDirectory)"
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
