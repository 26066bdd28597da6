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
/// (crma.md §6): per-domain LoRAs for frozen/crma/crma-identity (with the current substrate for the
/// crma ones), the shared LoRA for naive/replay/ewc.
public final class ContinualLearner {
    public let model: LlamaModel
    public let config: ContinualConfig
    public private(set) var domains: [String] = []
    /// Per-domain LoRAs (frozen once learned) or the one shared LoRA.
    public private(set) var loras: [String: LoRA] = [:]
    public private(set) var shared: LoRA?
    public let crma: CRMA?
    public let ewc: ElasticWeightConsolidation?
    private var replayRows: [PackedRow] = []
    /// Holdout slices of learned domains and their loss when learned, for the stability check.
    private var slices: [(domain: String, rows: [PackedRow], reference: Double)] = []
    /// Updates the stability check stopped early, by the domain being learned.
    public private(set) var stabilityStops: [String: StabilityStop] = [:]

    public init(model: LlamaModel, config: ContinualConfig) {
        self.model = model
        self.config = config
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
        let lora: LoRA
        if config.strategy.perDomainLoRA {
            lora = LoRA(
                name: domain.name, config: config.lora, model: model.config, seed: config.seed &+ 1000 &* (k + 1))
            for other in loras.values { other.trainable = false }
            loras[domain.name] = lora
        } else {
            lora = shared ?? LoRA(name: "shared", config: config.lora, model: model.config, seed: config.seed &+ 1000)
            shared = lora
        }
        lora.trainable = true
        let adapters = AdapterSet(loras: [lora], crma: crma)
        let trainer = Trainer(
            model: model, adapters: adapters, config: config.optimizer, totalSteps: config.stepsPerDomain)
        if let ewc { trainer.regularizer = { ewc.apply($0) } }
        var sampler = BatchSampler(rows: domain.train, batchSize: config.batchRows, seed: config.seed &+ k)
        var replay =
            replayRows.isEmpty ? nil : BatchSampler(rows: replayRows, batchSize: 1, seed: config.seed &+ 7 &* (k + 1))
        let replayCount =
            config.strategy == .replay ? Int((Double(config.batchRows) * config.replayRatio).rounded()) : 0
        var reports: [StepReport] = []
        let check = config.stabilityCheck
        for step in 0..<config.stepsPerDomain {
            if check.interval > 0, step > 0, step % check.interval == 0, let stop = unstableSlice(step: step) {
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
                (
                    domain.name, rows,
                    HoldoutScorer.score(model: model, adapters: self.adapters(evaluating: domain.name), rows: rows).mean
                ))
        }
        return reports
    }

    /// The first earlier domain whose holdout slice drifted beyond the critical threshold, if any.
    func unstableSlice(step: Int) -> StabilityStop? {
        for s in slices {
            let now = HoldoutScorer.score(model: model, adapters: adapters(evaluating: s.domain), rows: s.rows).mean
            let drift = 100 * (now - s.reference) / s.reference
            if drift > config.stabilityCheck.criticalPercent {
                return StabilityStop(step: step, domain: s.domain, driftPercent: drift)
            }
        }
        return nil
    }

    /// The adapters that score `domain`'s holdout now (nil LoRA list: the base model).
    public func adapters(evaluating domain: String) -> AdapterSet {
        let lora = config.strategy.perDomainLoRA ? loras[domain] : shared
        return AdapterSet(loras: lora.map { [$0] } ?? [], crma: crma)
    }

    /// The substrate alone, for the general benchmarks: base + CRMA (crma strategies), base + shared
    /// LoRA (naive, replay, ewc), the base (frozen).
    public func substrate() -> AdapterSet {
        AdapterSet(loras: config.strategy.perDomainLoRA ? [] : (shared.map { [$0] } ?? []), crma: crma)
    }
}
