import CRMAAdapters
import CRMAModel
import CRMAMonitor
import CRMANumerics
import CRMATraining
import Foundation

/// One domain's data for an update: packed training rows, and the holdout rows its reference loss is
/// measured on when it is learned (and pinned to from then on).
public struct DomainData: Sendable, Equatable, Codable {
    public var name: String
    public var train: [PackedRow]
    public var holdout: [PackedRow]

    public init(name: String, train: [PackedRow], holdout: [PackedRow]) {
        self.name = name
        self.train = train
        self.holdout = holdout
    }
}

/// A domain learned before an update, as the gate judges it: the strategy it was learned with (which
/// decides the adapters that score it, whatever strategy the update uses), the holdout rows its
/// reference was measured on, and that reference (its loss when it was learned).
public struct LearnedDomain: Sendable, Equatable, Codable {
    public var name: String
    public var strategy: Strategy
    public var holdout: [PackedRow]
    public var reference: Double

    public init(name: String, strategy: Strategy, holdout: [PackedRow], reference: Double) {
        self.name = name
        self.strategy = strategy
        self.holdout = holdout
        self.reference = reference
    }
}

/// The single update pipeline, shared by `crma-bench forgetting` and crmad: a parent ``LearnedState`` and
/// a domain's data → training with the configured strategy (checkpoints and resume when the job has a
/// directory, the mid-update stability check) → a candidate state → ``evaluate(_:job:general:newDomainBaseLoss:)``:
/// every earlier domain scored on its pinned rows with the adapters it was learned with, the new domain,
/// the general benchmarks, and the gate's decision as data. What to do with the decision (promote,
/// discard, alert) is the caller's.
public struct DomainUpdate {
    public let model: LlamaModel
    public let config: ContinualConfig

    public init(model: LlamaModel, config: ContinualConfig) {
        self.model = model
        self.config = config
    }

    /// What one update works on.
    public struct Job: Sendable, Equatable, Codable {
        public var domain: DomainData
        /// Every domain learned before, in learning order (may include `domain` itself when it is learned
        /// again: it is then also judged against its own previous loss on its previous rows).
        public var earlier: [LearnedDomain]
        /// replay: earlier domains' training rows to draw from.
        public var replayRows: [PackedRow]
        /// Seeds the new LoRA, a new CRMA substrate and the batch order: the same job trains the same way.
        public var seed: UInt64
        /// Where checkpoints (and a cached lwf teacher) go; nil: none, and a stopped update cannot resume.
        public var directory: String?

        public init(
            domain: DomainData, earlier: [LearnedDomain] = [], replayRows: [PackedRow] = [], seed: UInt64,
            directory: String? = nil
        ) {
            self.domain = domain
            self.earlier = earlier
            self.replayRows = replayRows
            self.seed = seed
            self.directory = directory
        }
    }

    /// Progress of a training run, reported at every step boundary.
    public enum Event {
        /// Before the first step; `step` > 0 when it resumed from a checkpoint.
        case started(step: Int, totalSteps: Int)
        /// After a step.
        case step(StepReport, step: Int, totalSteps: Int)
    }

    /// What the caller wants at a step boundary: go on, or stop (checkpointed when the job has a directory).
    public enum Control: Sendable { case more, stop }

    /// A trained candidate, not yet judged.
    public struct Candidate {
        public var state: LearnedState
        /// Optimizer steps taken in all (fewer than planned when the stability check stopped it).
        public var steps: Int
        public var stabilityStop: StabilityStop?
        /// lwf: what the teacher cost.
        public var teacherCost: TeacherCost?
    }

    public enum TrainingOutcome {
        /// The caller asked to stop at this step.
        case stopped(step: Int)
        case trained(Candidate)
    }

    /// Optimizer steps this job trains for.
    public func totalSteps(_ job: Job) -> Int { config.steps(trainingRows: job.domain.train.count) }

    /// Trains a copy of `parent` on `job`'s domain. `parent` is never changed. `inspect` sees the state in
    /// training after every step (a learning curve scores it); it must not keep or change it.
    public func train(
        _ job: Job, parent: LearnedState, progress: (Event) -> Control = { _ in .more },
        inspect: (_ step: Int, _ inTraining: LearnedState) -> Void = { _, _ in }
    ) throws -> TrainingOutcome {
        let domain = job.domain.name
        guard !job.domain.train.isEmpty else { throw UpdateError.noTrainingData(domain) }
        let strategy = config.strategy
        let roles = AdapterRoles(strategy)
        let state = parent.copy()
        let name = roles.loraName(for: domain)
        let lora: LoRA
        if let shared = state.loras[name], !strategy.perDomainLoRA {
            lora = shared
        } else {
            // A per-domain LoRA starts fresh, also when the domain is learned again.
            lora = LoRA(name: name, config: config.lora, model: model.config, seed: job.seed)
            state.loras[name] = lora
        }
        lora.trainable = true
        if strategy.usesCRMA {
            if state.crma == nil {
                var c = config.crma
                if strategy == .crmaIdentity { c.mixing = .identity }
                state.crma = CRMA(config: c, model: model, seed: job.seed &+ 17)
            }
            state.crma?.trainable = true
        }
        // A strategy without CRMA keeps the parent's substrate as it is, so domains learned with it score
        // exactly as before.
        let steps = totalSteps(job)
        let trainer = Trainer(
            model: model, adapters: roles.training(lora, loras: state.loras, crma: state.crma),
            config: config.optimizer, totalSteps: steps)
        let ewc =
            strategy == .ewc
            ? ElasticWeightConsolidation(lambda: config.ewcLambda, onlineGamma: config.ewcOnlineGamma, memory: state.fisher)
            : nil
        if let ewc { trainer.regularizer = { ewc.apply($0) } }
        if strategy == .olora {
            let earlier = state.loras.keys.sorted().compactMap { state.loras[$0] }.filter { $0 !== lora }
            let penalty = OrthogonalSubspacePenalty(lambda: config.oloraLambda, earlier: earlier, current: lora)
            trainer.regularizer = { _ in penalty.apply() }
        }
        var sampler = BatchSampler(rows: job.domain.train, batchSize: config.batchRows, seed: job.seed)
        var teacherCost: TeacherCost?
        if strategy == .lwf {
            // The teacher is the parent as it scores this domain: the parent never moves.
            let (d, cost) = try distillation(
                teacher: parent.adapters(scoring: domain, learnedWith: strategy), job: job, schedule: sampler, steps: steps)
            trainer.distillation = d
            teacherCost = cost
        }
        let checkpoint = job.directory.map { "\($0)/checkpoint.safetensors" }
        if let dir = job.directory {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        if let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
            sampler.seek(try TrainingCheckpoint.load(checkpoint, into: trainer))
        }
        let replay = ReplayDraw(
            rows: strategy == .replay ? job.replayRows : [], perBatch: replayCount, seed: job.seed &+ 7)
        func save() throws {
            if let checkpoint { try TrainingCheckpoint.save(trainer, cursor: sampler.cursor, to: checkpoint) }
        }
        var step = trainer.optimizer.stepCount
        let started = ContinuousClock.now
        let slices = stabilitySlices(job, parent: parent)
        if progress(.started(step: step, totalSteps: steps)) == .stop {
            try save()
            return .stopped(step: step)
        }
        var stabilityStop: StabilityStop?
        let check = config.stabilityCheck
        while step < steps {
            if check.interval > 0, step > 0, step % check.interval == 0,
                let stop = check.firstUnstable(slices, step: step, score: {
                    score(adapters(scoring: $0.domain, in: state, job: job), $0.rows).mean
                })
            {
                stabilityStop = stop
                break
            }
            var rows = sampler.next()
            replay.mix(into: &rows, step: step)
            let report = try trainer.step([SequencePacker.batch(rows)])
            step += 1
            if step % max(1, config.checkpointInterval) == 0 || step == steps { try save() }
            if progress(.step(report, step: step, totalSteps: steps)) == .stop {
                try save()
                return .stopped(step: step)
            }
            inspect(step, state)
        }
        teacherCost?.trainingSeconds = (ContinuousClock.now - started).seconds
        if var e = ewc {
            var s = BatchSampler(rows: job.domain.train, batchSize: config.batchRows, seed: job.seed &+ 99)
            e.consolidate(
                params: lora.parameters, pass: trainer.pass,
                batches: (0..<config.fisherBatches).map { _ in SequencePacker.batch(s.next()) })
            state.fisher = e.memory
        }
        lora.trainable = false
        state.crma?.trainable = false
        // What the domain's requests look like, for routing requests that name no domain.
        let examples = RoutingCentroid.examples(model: model, rows: job.domain.train)
        state.routingExamples[domain] = examples
        state.routing[domain] = RoutingCentroid.centroid(examples: examples, dimension: model.config.hiddenSize)
        return .trained(Candidate(state: state, steps: step, stabilityStop: stabilityStop, teacherCost: teacherCost))
    }

    /// Rows of each batch replaced by rows of earlier domains (replay).
    var replayCount: Int {
        config.strategy == .replay ? Int((Double(config.batchRows) * config.replayRatio).rounded()) : 0
    }

    /// The strategy whose adapters score `domain` in this job: the update's own for the domain it learns,
    /// the one each earlier domain was learned with for the others.
    func scoringStrategy(_ domain: String, job: Job) -> Strategy {
        domain == job.domain.name ? config.strategy : job.earlier.last { $0.name == domain }?.strategy ?? config.strategy
    }

    func adapters(scoring domain: String, in state: LearnedState, job: Job) -> AdapterSet {
        state.adapters(scoring: domain, learnedWith: scoringStrategy(domain, job: job))
    }

    /// The stability check's slices: the first rows of every earlier domain, each with its loss under the
    /// parent measured on that same slice (a slice is never compared with a whole holdout's loss). A domain
    /// learned again has none: its adapters are being replaced, so its rows say nothing mid-update (the
    /// gate judges its previous rows at the end).
    func stabilitySlices(_ job: Job, parent: LearnedState) -> [StabilityCheck.Slice] {
        let check = config.stabilityCheck
        guard check.interval > 0 else { return [] }
        return job.earlier.filter { $0.name != job.domain.name }.map { e in
            let rows = Array(e.holdout.prefix(check.sliceRows))
            let reference = score(parent.adapters(scoring: e.name, learnedWith: e.strategy), rows).mean
            return StabilityCheck.Slice(domain: e.name, rows: rows, reference: reference)
        }
    }

    /// lwf's teacher: live, or cached on disk and computed ahead for the whole schedule.
    private func distillation(teacher: AdapterSet, job: Job, schedule: BatchSampler, steps: Int) throws -> (
        Distillation, TeacherCost
    ) {
        let source: any DistillationTeacher
        var cost = TeacherCost(mode: config.lwfTeacher)
        switch config.lwfTeacher {
        case .live:
            source = LiveTeacher(model: model, adapters: teacher)
        case .cached:
            // With a job directory the cache lives with the job: a resumed job reads what it distilled.
            guard let root = config.teacherCacheDirectory ?? job.directory.map({ "\($0)/teacher" }) else {
                throw UpdateError.noTeacherCache
            }
            let cached = try CachedTeacher(root: root, model: model, adapters: teacher)
            var s = schedule
            let started = ContinuousClock.now
            try cached.prefill((0..<steps).map { _ in SequencePacker.batch(s.next()) })
            cost.prefillSeconds = (ContinuousClock.now - started).seconds
            cost.bytesOnDisk = cached.bytesOnDisk
            source = cached
        }
        return (Distillation(teacher: source, alpha: config.lwfAlpha, temperature: config.lwfTemperature), cost)
    }
}

/// replay's draw: `perBatch` rows of every batch come from the earlier domains' rows, in a seeded order
/// that depends only on the step, so a resumed update draws exactly what it would have.
struct ReplayDraw {
    let sampler: BatchSampler?
    let perBatch: Int

    init(rows: [PackedRow], perBatch: Int, seed: UInt64) {
        self.perBatch = perBatch
        sampler = rows.isEmpty || perBatch == 0 ? nil : BatchSampler(rows: rows, batchSize: 1, seed: seed)
    }

    /// Replaces the last `perBatch` rows of step `step`'s batch (the draw's position is derived from the step).
    func mix(into rows: inout [PackedRow], step: Int) {
        guard var s = sampler else { return }
        let drawn = step * perBatch
        var c = BatchCursor()
        c.epoch = drawn / s.rows.count
        c.index = drawn % s.rows.count
        s.seek(c)
        for i in 0..<min(perBatch, rows.count) { rows[rows.count - 1 - i] = s.next()[0] }
    }
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

/// Why an update cannot run.
public enum UpdateError: Error, Equatable, CustomStringConvertible {
    case noTrainingData(String)
    case noHoldout(String)
    case noTeacherCache

    public var description: String {
        switch self {
        case .noTrainingData(let d): "domain \(d) has no training documents; add more files to inbox/\(d)/"
        case .noHoldout(let d): "domain \(d) has no holdout documents; add more documents to inbox/\(d)/"
        case .noTeacherCache: "lwf with a cached teacher needs a cache directory (teacherCacheDirectory or a job directory)"
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

extension DomainUpdate {
    /// The domains whose training rows replay draws from when `learning` is learned on a state that holds
    /// `learned`: every one but `learning` itself (its own rows are the job's training data). crmad and the
    /// benchmark both take replay's sources from here, each in its own order.
    public static func replaySources(learned: [String], learning: String) -> [String] {
        learned.filter { $0 != learning }
    }
}
