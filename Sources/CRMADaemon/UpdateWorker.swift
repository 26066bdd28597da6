import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation

/// The heavy part of an update, from a job directory (``JobDirectory``): training through the update
/// pipeline (``DomainUpdate``) from the last checkpoint, then the measurement of the candidate on every
/// earlier domain, the new one and the general benchmarks. crmad's job thread runs it in-process (the local
/// engine); `crmad worker DIR` runs it on a compute node (the slurm engine). Either way it writes the same
/// files, and never decides: the gate's decision is crmad's.
public struct UpdateWorker {
    public let directory: JobDirectory
    public let spec: UpdateSpec
    let job: DomainUpdate.Job
    let general: GeneralSuite
    let update: DomainUpdate
    let lm: LanguageModel

    /// What the worker tells its caller at a step boundary.
    public enum Event {
        /// Training starts at `step` (> 0: from a checkpoint).
        case started(step: Int, totalSteps: Int)
        /// A step finished.
        case progress(JobProgress)
    }

    public enum Training: Equatable {
        /// Stopped at a step boundary on the caller's request; the checkpoint holds this step.
        case stopped(step: Int)
        case trained(TrainingRecord)
    }

    /// Reads the directory's inputs; `lm` must be the spec's model.
    public init(directory: JobDirectory, lm: LanguageModel) throws {
        self.directory = directory
        self.lm = lm
        spec = try directory.readSpec()
        job = try directory.readJob()
        general = try directory.readGeneral()
        update = DomainUpdate(model: lm.model, config: spec.settings)
    }

    /// Optimizer steps the update trains for.
    public var totalSteps: Int { update.totalSteps(job) }

    /// Trains from the directory's checkpoint, writing one progress line per step; `control` decides at
    /// every step boundary whether to go on. A candidate trained already is not trained again; one built
    /// on another parent than the spec's (crmad rebased the job) gets its own LoRA placed onto the spec's
    /// parent instead.
    public func train(started: Double, control: (Event) -> DomainUpdate.Control) throws -> Training {
        if let done = try? directory.readTrained(), FileManager.default.fileExists(atPath: directory.candidate) {
            return .trained(done.parentVersion == spec.parentVersion ? done : try rebase(done))
        }
        let parent = try LearnedState.load(directory.parentAdapters, model: lm.model)
        var meter = ProgressMeter(id: spec.job, domain: spec.domain, step: 0, started: started)
        let outcome = try update.train(job, parent: parent) { event in
            switch event {
            case .started(let step, let total):
                meter.resumed(at: step)
                return control(.started(step: step, totalSteps: total))
            case .step(let report, let step, let total):
                let p = meter.progress(after: report, step: step, totalSteps: total)
                directory.appendProgress(p)
                return control(.progress(p))
            }
        }
        switch outcome {
        case .stopped(let step):
            return .stopped(step: step)
        case .trained(let candidate):
            try candidate.state.save(to: directory.candidate)
            let record = TrainingRecord(
                steps: candidate.steps, stabilityStop: candidate.stabilityStop, parentVersion: spec.parentVersion)
            // Written after the candidate: a record means the candidate is complete.
            try directory.writeTrained(record)
            return .trained(record)
        }
    }

    /// The candidate's own LoRA and routing placed onto the directory's (new) parent; the record then
    /// names that parent. Only for a strategy whose updates train nothing else (``Strategy/rebasable``).
    private func rebase(_ done: TrainingRecord) throws -> TrainingRecord {
        let mine = try LearnedState.load(directory.candidate, model: lm.model)
        let onto = try LearnedState.load(directory.parentAdapters, model: lm.model)
        guard let rebased = mine.rebased(onto: onto, domain: spec.domain, strategy: spec.settings.strategy) else {
            throw JobDirectoryError.unreadable(
                directory.candidate,
                "it was built on version \(done.parentVersion), and a \(spec.settings.strategy.rawValue) candidate cannot be placed onto version \(spec.parentVersion)")
        }
        try rebased.save(to: directory.candidate)
        // Its stability stop, if any, was reported when it was trained.
        let record = TrainingRecord(steps: done.steps, stabilityStop: nil, parentVersion: spec.parentVersion)
        try directory.writeTrained(record)
        return record
    }

    /// The candidate's scores, measured once per parent (a measurement of this parent already in the
    /// directory is read back). `between` runs between the scored parts (crmad serves model requests there).
    public func measure(started: Double, between: () -> Void = {}) throws -> UpdateMeasurement {
        if directory.hasMeasurement, let m = try? directory.readMeasurement(), m.parentVersion == spec.parentVersion {
            return m.scores
        }
        let total = totalSteps
        directory.appendProgress(.evaluating(id: spec.job, domain: spec.domain, totalSteps: total, startedAt: started))
        guard let trained = try? directory.readTrained(), FileManager.default.fileExists(atPath: directory.candidate)
        else { throw JobDirectoryError.missing(directory.candidate) }
        guard trained.parentVersion == spec.parentVersion else {
            throw JobDirectoryError.unreadable(
                directory.trained, "the candidate is built on version \(trained.parentVersion), not the job's parent \(spec.parentVersion); train (rebase) it first")
        }
        let candidate = try LearnedState.load(directory.candidate, model: lm.model)
        let check = Self.generalCheck(general, lm: lm, context: spec.generalContext, base: spec.generalBase)
        let m = update.measure(candidate, job: job, general: check, between: between)
        try directory.writeMeasurement(WorkerMeasurement(parentVersion: spec.parentVersion, scores: m))
        return m
    }

    /// How a worker measures the general benchmarks: `suite` at `context` tokens, against the base model's
    /// scores (`base`, or measured here once). Nil without a suite. Its limits are unused: crmad judges.
    static func generalCheck(_ suite: GeneralSuite, lm: LanguageModel, context: Int, base: [String: Double]?)
        -> GeneralCheck?
    {
        suite.isEmpty ? nil : GeneralCheck(gating: suite, lm: lm, context: context, limits: GeneralLimits(), base: base)
    }
}

extension JobProgress {
    /// A job whose candidate is being measured (every step done).
    static func evaluating(id: Int64, domain: String, totalSteps: Int, startedAt: Double) -> JobProgress {
        JobProgress(
            id: id, domain: domain, phase: "evaluating", step: totalSteps, totalSteps: totalSteps, loss: nil,
            tokensPerSecond: nil, etaSeconds: nil, spectralExcess: nil, startedAt: startedAt)
    }
}
