import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAMonitor
import CRMATraining
import CRMAWire
import Foundation
import Logging

extension Daemon {
    func jobDirectory(_ id: Int64) -> String { "\(config.paths.stateDirectory)/jobs/\(id)" }

    /// The version a job builds on, fixed when it starts (written durably into its directory), so a
    /// resumed job continues from the same parent even if the active version changed meanwhile.
    func parentVersion(of job: JobRecord) throws -> VersionRecord {
        let dir = jobDirectory(job.id)
        let file = "\(dir)/parent"
        if let s = try? String(contentsOfFile: file, encoding: .utf8), let id = Int64(s),
            let v = try registry.version(id)
        {
            return v
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let v = try registry.activeVersion()
        try AtomicFile.write(Data("\(v.id)".utf8), to: file, mode: 0o640)
        return v
    }

    func configHash(strategy: String) -> String {
        SHA256.hex(Array("\(strategy)|\(config.adapter)|\(config.training)|\(lm.path)".utf8))
    }

    func setProgress(_ p: JobProgress?) {
        cond.lock()
        progress = p
        cond.unlock()
        if let p, let d = try? JSONEncoder().encode(p) {
            publishJSON("{\"event\":\"progress\",\"job\":\(String(decoding: d, as: UTF8.self))}")
        }
    }

    /// At a step boundary: serve waiting model requests, then tell whether to stop.
    func atStepBoundary(job: Int64) -> Bool {
        cond.lock()
        let pending = tasks
        tasks = []
        let stop = stopping || cancelRequested.contains(job)
        cond.unlock()
        runTasks(pending)
        return stop
    }

    /// One job from its current state to a final one (or to a checkpoint when the daemon stops), through
    /// the update pipeline (``DomainUpdate``) that `crma-bench forgetting` runs too.
    func process(_ initial: JobRecord) {
        var job = initial
        let id = job.id
        guard let strategy = Strategy(rawValue: job.strategy) else {
            fail(job, "unknown strategy \(job.strategy); use one of \(Strategy.allCases.map(\.rawValue).joined(separator: ", "))")
            return
        }
        let update = DomainUpdate(model: lm.model, config: config.continualConfig(strategy: strategy))
        let dir = jobDirectory(id)
        let started = Date().timeIntervalSince1970
        do {
            if job.state == .queued {
                try registry.transition(job: id, .start)
                job.state = .training
            }
            let parent = try parentVersion(of: job)
            let inputs = try updateInputs(job: job, parent: parent, strategy: strategy)
            guard !inputs.job.domain.holdout.isEmpty else { throw UpdateError.noHoldout(job.domain) }
            let total = update.totalSteps(inputs.job)
            if job.totalSteps != total {
                try registry.setTotalSteps(job: id, total)
                job.totalSteps = total
            }
            let candidatePath = "\(dir)/candidate.safetensors"
            if job.state == .training {
                logger.info(
                    "training \(job.domain): \(inputs.job.domain.train.count) rows × \(config.training.sequenceLength) tokens, \(total) steps, \(strategy.rawValue)",
                    metadata: ["domain": "\(job.domain)", "job": "\(id)"])
                let parentState = try LearnedState.load(parent.adaptersHash.map { blobs.path($0) }, model: lm.model)
                var meter = ProgressMeter(job: job, started: started)
                let outcome = try update.train(inputs.job, parent: parentState) { event in
                    switch event {
                    case .started(let step, _) where step > 0:
                        logger.notice(
                            "job \(id) resumed from its checkpoint at step \(step)",
                            metadata: ["job": "\(id)", "resumed_step": "\(step)", "domain": "\(job.domain)"])
                        meter.resumed(at: step)
                    case .step(let report, let step, _):
                        try? registry.setProgress(job: id, step: step)
                        setProgress(meter.progress(after: report, step: step, totalSteps: total))
                    default: break
                    }
                    return atStepBoundary(job: id) ? .stop : .more
                }
                switch outcome {
                case .stopped(let step):
                    setProgress(nil)
                    if cancelRequestedAndClear(id) {
                        try registry.transition(job: id, .cancel, message: "cancelled by the operator at step \(step)")
                        publish(["event": "job", "job": "\(id)", "state": JobState.cancelled.rawValue])
                        try? FileManager.default.removeItem(atPath: dir)
                        logger.notice("job \(id) cancelled at step \(step)")
                    } else {
                        logger.notice("job \(id) checkpointed at step \(step); it resumes at the next start")
                    }
                    return
                case .trained(let candidate):
                    try candidate.state.save(to: candidatePath)
                    if let u = candidate.stabilityStop { raiseStabilityStop(u, domain: job.domain) }
                }
                guard try finishTraining(job: id) else { return }
            }
            setProgress(
                JobProgress(
                    id: id, domain: job.domain, phase: "evaluating", step: job.totalSteps, totalSteps: job.totalSteps,
                    loss: nil, tokensPerSecond: nil, etaSeconds: nil, spectralExcess: nil, startedAt: started))
            let candidate = try LearnedState.load(candidatePath, model: lm.model)
            let evaluation = update.evaluate(candidate, job: inputs.job, general: generalCheck())
            try conclude(
                job: job, parent: parent, inputs: inputs, evaluation: evaluation, strategy: strategy,
                candidate: candidatePath)
            setProgress(nil)
            diskRecovered()
            try? FileManager.default.removeItem(atPath: dir)
        } catch {
            setProgress(nil)
            if isStopping { return }
            if stateDirectoryIsFull() {
                // Not the job's fault: it stays where it is and resumes from its checkpoint later.
                reportDiskFull("job \(id) (\(job.domain)) could not write: \(error)")
                return
            }
            fail(job, "\(error)")
        }
    }

    /// What the pipeline needs for a job: the domain's stored data, every domain of the parent's lineage
    /// on its pinned rows (scored as it was learned), and for replay the earlier domains' training rows.
    struct UpdateInputs {
        var job: DomainUpdate.Job
        var holdoutDocuments: [String]
        var documentHashes: [String]
    }

    func updateInputs(job: JobRecord, parent: VersionRecord, strategy: Strategy) throws -> UpdateInputs {
        let stored = try StoredDomain.load(
            domain: job.domain, registry: registry, blobs: blobs, tokenizer: lm.tokenizer,
            sequenceLength: config.training.sequenceLength, holdoutRows: config.monitor.holdoutRows)
        var earlier: [LearnedDomain] = []
        for (d, reference) in parent.references.sorted(by: { $0.key < $1.key }) {
            earlier.append(try learnedDomain(d, reference: reference, lineage: parent.lineage[d], fallback: strategy))
        }
        var replay: [PackedRow] = []
        if strategy == .replay {
            for d in parent.references.keys.sorted() where d != job.domain {
                replay += try StoredDomain.load(
                    domain: d, registry: registry, blobs: blobs, tokenizer: lm.tokenizer,
                    sequenceLength: config.training.sequenceLength, holdoutRows: 0
                ).data.train
            }
        }
        return UpdateInputs(
            job: DomainUpdate.Job(
                domain: stored.data, earlier: earlier, replayRows: replay, seed: config.training.seed &+ UInt64(job.id),
                directory: jobDirectory(job.id)),
            holdoutDocuments: stored.holdoutDocuments, documentHashes: stored.documentHashes)
    }

    /// An earlier domain as its lineage pinned it. Versions written before lineage existed have only a
    /// reference: their rows are read from the stored holdout documents as then (and said so in the journal).
    func learnedDomain(_ d: String, reference: Double, lineage: DomainLineage?, fallback: Strategy) throws
        -> LearnedDomain
    {
        if let lineage {
            return LearnedDomain(
                name: d, strategy: Strategy(rawValue: lineage.strategy) ?? fallback,
                holdout: try StoredDomain.pinnedRows(lineage, blobs: blobs), reference: lineage.reference)
        }
        logger.notice("\(d) has no pinned holdout in its version (written by an older crmad); using its stored holdout")
        let rows = try StoredDomain.load(
            domain: d, registry: registry, blobs: blobs, tokenizer: lm.tokenizer,
            sequenceLength: config.training.sequenceLength, holdoutRows: config.monitor.holdoutRows, packTrain: false
        ).data.holdout
        return LearnedDomain(name: d, strategy: fallback, holdout: rows, reference: reference)
    }

    /// The general benchmarks the gate judges (nil when none are configured).
    func generalCheck() -> GeneralCheck? {
        let suite = general
        guard !suite.isEmpty else { return nil }
        if baseGeneral == nil {
            baseGeneral = suite.scores(
                model: lm.model, tokenizer: lm.tokenizer, context: config.training.sequenceLength, hooks: nil)
        }
        let m = config.monitor
        return GeneralCheck(
            suite: suite, tokenizer: lm.tokenizer, context: config.training.sequenceLength, base: baseGeneral ?? [:],
            limits: GeneralLimits(
                accuracyPoints: GateThresholds(warn: m.accuracyWarnPoints, critical: m.accuracyCriticalPoints),
                kl: GateThresholds(warn: m.klWarn, critical: m.klCritical)))
    }

    func raiseStabilityStop(_ u: StabilityStop, domain: String) {
        // Stopped early; the full evaluation decides with every holdout row.
        raise(
            .driftCritical,
            String(
                format: "stability check stopped the update of %@ at step %d: %@ drifted %+.2f%% on its holdout slice",
                domain, u.step, u.domain, u.driftPercent), domain: u.domain, version: nil,
            fields: [
                "benchmark": "holdout-slice:\(u.domain)", "drift_pct": String(format: "%.3f", u.driftPercent),
                "threshold_pct": String(format: "%.1f", config.monitor.criticalPercent),
                "action": "stopped early; evaluating",
            ])
    }

    func cancelRequestedAndClear(_ id: Int64) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        return cancelRequested.remove(id) != nil
    }

    func fail(_ job: JobRecord, _ message: String) {
        _ = try? registry.transition(job: job.id, .fail(message), message: message)
        publish(["event": "job", "job": "\(job.id)", "state": JobState.failed.rawValue])
        try? FileManager.default.removeItem(atPath: jobDirectory(job.id))
        raise(.jobFailed, "job \(job.id) for \(job.domain) failed: \(message)", domain: job.domain, version: nil)
    }

    /// Stores the candidate as a version and concludes the job: promoted only when the gate accepted it and
    /// its parent is still active (``Registry/conclude(job:candidate:accept:message:)``); alerts for every
    /// warning and breach; a retry on the frozen substrate when configured.
    func conclude(
        job: JobRecord, parent: VersionRecord, inputs: UpdateInputs, evaluation e: UpdateEvaluation, strategy: Strategy,
        candidate: String
    ) throws {
        let accept = e.decision.action == .accept
        let hash = try blobs.put(try Data(contentsOf: URL(fileURLWithPath: candidate)))
        var lineage = parent.lineage
        for l in inputs.job.earlier where lineage[l.name] == nil {
            // Pin the rows of domains an older crmad learned, so they stay fixed from now on.
            lineage[l.name] = DomainLineage(
                strategy: l.strategy.rawValue, reference: l.reference,
                holdoutRows: try StoredDomain.pin(l.holdout, blobs: blobs), holdoutDocuments: [],
                sequenceLength: config.training.sequenceLength)
        }
        if accept {
            lineage[job.domain] = DomainLineage(
                strategy: strategy.rawValue, reference: e.newDomain.mean,
                holdoutRows: try StoredDomain.pin(inputs.job.domain.holdout, blobs: blobs),
                holdoutDocuments: inputs.holdoutDocuments, sequenceLength: config.training.sequenceLength)
        }
        var losses = parent.losses
        for (d, s) in e.earlier { losses[d] = s.mean }
        losses[job.domain] = e.newDomain.mean
        let reasons = e.decision.reasons.map {
            GateReasonRecord(
                severity: $0.severity.rawValue, metric: $0.metric, value: $0.value, reference: $0.reference,
                degradationPercent: $0.degradationPercent, thresholdPercent: $0.thresholdPercent)
        }
        let message =
            accept
            ? String(
                format: "accepted: %@ holdout %.4f (base %.4f)", job.domain, e.newDomain.mean, e.newDomainBaseLoss)
            : "rolled back: " + reasons.filter { $0.severity != "warning" }.map(Self.describe).joined(separator: "; ")
        let version = VersionRecord(
            id: 0, parentID: parent.id, domain: job.domain, jobID: job.id, state: "", adaptersHash: hash,
            configHash: configHash(strategy: strategy.rawValue), dataHashes: inputs.documentHashes,
            references: lineage.mapValues(\.reference), losses: losses, general: e.general, reasons: reasons,
            createdAt: 0, active: false, lineage: lineage)
        let conclusion = try registry.conclude(job: job.id, candidate: version, accept: accept, message: message)
        let vid = conclusion.version
        let promoted = conclusion == .promoted(version: vid)
        publish(["event": "job", "job": "\(job.id)", "state": promoted ? "accepted" : "rolled_back"])
        for r in reasons where r.severity == "warning" || r.severity == "critical" || r.severity == "non_finite" {
            let metricDomain = r.metric.hasPrefix("holdout:") ? String(r.metric.dropFirst(8).split(separator: ":")[0]) : job.domain
            raise(
                r.severity == "warning" ? .driftWarning : .driftCritical,
                "\(Self.describe(r)) after learning \(job.domain)", domain: metricDomain, version: vid,
                fields: [
                    "benchmark": r.metric, "drift_pct": String(format: "%.3f", r.degradationPercent),
                    "threshold_pct": String(format: "%.1f", r.thresholdPercent),
                    "action": accept ? "accepted with warning" : "rollback",
                ])
        }
        switch conclusion {
        case .promoted:
            raise(.updateAccepted, "version \(vid) is active: \(message)", domain: job.domain, version: vid, fields: ["action": "promote"])
            return
        case .stale(_, let active):
            raise(
                .rollback,
                "version \(vid) (\(job.domain)) passed the gate but is not promoted: version \(active) became active while it trained on version \(parent.id); queue it again with crmactl retry \(job.domain)",
                domain: job.domain, version: vid, fields: ["action": "stale", "active_version": "\(active)"])
            return
        case .rolledBack:
            raise(
                .rollback, "version \(vid) \(message); version \(parent.id) stays active", domain: job.domain, version: vid,
                fields: ["action": "rollback"])
        }
        if config.monitor.onBreach == .retryFrozen, strategy != .frozen {
            let retry = try registry.enqueue(
                domain: job.domain, strategy: Strategy.frozen.rawValue, totalSteps: config.training.steps,
                notBefore: Date().timeIntervalSince1970)
            logger.notice("retrying \(job.domain) on the frozen substrate as job \(retry)", metadata: ["domain": "\(job.domain)"])
        }
    }

    static func describe(_ r: GateReasonRecord) -> String {
        switch r.severity {
        case "not_learned": String(format: "%@ did not learn (%.4f, base %.4f)", r.metric, r.value, r.reference)
        case "non_finite": "\(r.metric) is not finite (\(r.value) vs \(r.reference))"
        case "stale": String(format: "version %.0f became active meanwhile (parent %.0f)", r.value, r.reference)
        default:
            String(
                format: "%@ drifted %+.2f%% (%.4f vs %.4f, %@ threshold %.1f%%)", r.metric, r.degradationPercent, r.value,
                r.reference, r.severity, r.thresholdPercent)
        }
    }

    // MARK: manual control

    public func pause() throws {
        try registry.setSetting("paused", "1")
        logger.notice("queue paused")
        wake()
    }

    public func resume() throws {
        try registry.setSetting("paused", "0")
        logger.notice("queue resumed")
        wake()
    }

    /// Makes an earlier accepted version active again.
    public func rollback(to version: Int64) throws {
        let before = try registry.activeVersionID()
        try registry.activate(version: version)
        raise(
            .rollback, "operator rolled back from version \(before) to version \(version)", domain: nil, version: version,
            fields: ["action": "manual rollback"])
    }

    /// Cancels a queued job at once (returns `.cancelled`), or a training one at its next step boundary or
    /// when its training ends (returns `.training`). An evaluating job cannot be cancelled
    /// (``JobControlError/evaluating(_:)``): evaluation is not interruptible and concludes shortly.
    ///
    /// - Important: A cancel this accepts always takes effect: it holds `cond` while it decides, and a job
    ///   leaves training only through ``finishTraining(job:)`` under the same lock.
    public func cancel(job id: Int64) throws -> JobState {
        cond.lock()
        defer { cond.unlock() }
        while true {
            guard let job = try registry.job(id) else { throw RegistryError.noSuchJob(id) }
            switch job.state {
            case .queued:
                // Only while it is still queued; when the worker started it meanwhile, look again.
                let cancelled = try registry.transition(
                    job: id, .cancel, ifStill: .queued, message: "cancelled by the operator")
                if cancelled != nil { return .cancelled }
            case .training:
                cancelRequested.insert(id)
                return .training
            case .evaluating:
                throw JobControlError.evaluating(id)
            case .accepted, .rolledBack, .failed, .cancelled:
                throw JobControlError.alreadyFinished(id, job.state)
            }
        }
    }

    /// Moves a job whose training ended to evaluation — or, when a cancel was accepted while it trained
    /// (after its last step included), cancels it instead and returns false.
    func finishTraining(job id: Int64) throws -> Bool {
        cond.lock()
        let cancelled = cancelRequested.remove(id) != nil
        let result = Result {
            try registry.transition(
                job: id, cancelled ? .cancel : .trained,
                message: cancelled ? "cancelled by the operator after its training" : nil)
        }
        cond.unlock()
        _ = try result.get()
        guard cancelled else { return true }
        setProgress(nil)
        publish(["event": "job", "job": "\(id)", "state": JobState.cancelled.rawValue])
        try? FileManager.default.removeItem(atPath: jobDirectory(id))
        logger.notice("job \(id) cancelled after its training")
        return false
    }

    /// Queues another update of `domain` with `strategy`.
    public func retry(domain: String, strategy: Strategy) throws -> Int64 {
        guard try registry.domainNames().contains(domain) else { throw JobControlError.noSuchDomain(domain) }
        let id = try registry.enqueue(
            domain: domain, strategy: strategy.rawValue, totalSteps: config.training.steps,
            notBefore: Date().timeIntervalSince1970)
        wake()
        return id
    }
}

/// Why an operator's request about a job or domain is refused.
public enum JobControlError: Error, Equatable, CustomStringConvertible {
    case alreadyFinished(Int64, JobState)
    /// The job is being evaluated; evaluation cannot be interrupted (it concludes shortly).
    case evaluating(Int64)
    case noSuchDomain(String)

    public var description: String {
        switch self {
        case .alreadyFinished(let id, let s): "job \(id) is already \(s.rawValue)"
        case .evaluating(let id):
            "job \(id) is evaluating; it concludes in a moment — roll back its version afterwards if needed"
        case .noSuchDomain(let d): "no domain \(d) (see `crmactl domains`)"
        }
    }
}
