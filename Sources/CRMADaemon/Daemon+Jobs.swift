import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAMonitor
import CRMATraining
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

    /// One job from its current state to a final one (or to a checkpoint when the daemon stops).
    func process(_ initial: JobRecord) {
        var job = initial
        let id = job.id
        var cfg = config
        guard let strategy = Strategy(rawValue: job.strategy), UpdateRunner.supportedStrategies.contains(strategy) else {
            fail(job, UpdateError.unsupportedStrategy(job.strategy).description)
            return
        }
        cfg.training.strategy = strategy
        let dir = jobDirectory(id)
        let started = Date().timeIntervalSince1970
        do {
            if job.state == .queued {
                try registry.transition(job: id, .start)
                job.state = .training
            }
            let parent = try parentVersion(of: job)
            let data = try UpdateData.load(
                domain: job.domain, registry: registry, blobs: blobs, tokenizer: lm.tokenizer,
                sequenceLength: cfg.training.sequenceLength, holdoutFraction: cfg.ingest.holdoutFraction,
                holdoutRows: cfg.monitor.holdoutRows)
            guard !data.holdout.isEmpty else { throw UpdateError.noHoldout(job.domain) }
            // The earlier domains' holdouts, read once for the stability check and the evaluation.
            var holdouts: [String: [PackedRow]] = [:]
            for d in parent.references.keys where d != job.domain { holdouts[d] = try holdout(of: d) }
            if cfg.training.epochs > 0 {
                let rows = Double(data.train.count) * cfg.training.epochs / Double(cfg.training.batchRows)
                cfg.training.steps = max(1, Int(rows.rounded(.up)))
                if job.totalSteps != cfg.training.steps {
                    try registry.setTotalSteps(job: id, cfg.training.steps)
                    job.totalSteps = cfg.training.steps
                }
            }
            let runner = UpdateRunner(model: lm.model, tokenizer: lm.tokenizer, config: cfg)
            var candidate = "\(dir)/candidate.safetensors"
            if job.state == .training {
                logger.info(
                    "training \(job.domain): \(data.train.count) rows × \(cfg.training.sequenceLength) tokens, \(job.totalSteps) steps, \(strategy.rawValue)",
                    metadata: ["domain": "\(job.domain)", "job": "\(id)"])
                let trainStart = Date()
                var stability: UpdateRunner.StabilitySlices?
                if cfg.monitor.checkInterval > 0 {
                    stability = .init(rows: holdouts.mapValues { Array($0.prefix(2)) }, references: parent.references)
                }
                let outcome = try runner.train(
                    domain: job.domain, data: data, parentAdapters: parent.adaptersHash.map { blobs.path($0) },
                    jobDirectory: dir, seed: cfg.training.seed &+ UInt64(id), stability: stability,
                    onResume: { step in
                        logger.notice(
                            "job \(id) resumed from its checkpoint at step \(step)",
                            metadata: ["job": "\(id)", "resumed_step": "\(step)", "domain": "\(job.domain)"])
                    },
                    shouldStop: { atStepBoundary(job: id) },
                    progress: { p in
                        try? registry.setProgress(job: id, step: p.step)
                        let elapsed = Date().timeIntervalSince(trainStart)
                        let done = max(1, p.step - job.step)
                        let eta = elapsed / Double(done) * Double(p.totalSteps - p.step)
                        setProgress(
                            JobProgress(
                                id: id, domain: job.domain, phase: "training", step: p.step, totalSteps: p.totalSteps,
                                loss: p.loss, tokensPerSecond: p.tokensPerSecond, etaSeconds: eta,
                                spectralExcess: p.spectralExcess, startedAt: started))
                    })
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
                case .finished(let path, let unstable):
                    candidate = path
                    if let u = unstable {
                        // Stopped early; the full evaluation below decides with every holdout row.
                        raise(
                            .driftCritical,
                            String(
                                format: "stability check stopped the update of %@ at step %d: %@ drifted %+.2f%% on its holdout slice",
                                job.domain, u.step, u.domain, u.driftPercent), domain: u.domain, version: nil,
                            fields: [
                                "benchmark": "holdout-slice:\(u.domain)", "drift_pct": String(format: "%.3f", u.driftPercent),
                                "threshold_pct": String(format: "%.1f", cfg.monitor.criticalPercent),
                                "action": "stopped early; evaluating",
                            ])
                    }
                }
                try registry.transition(job: id, .trained)
            }
            setProgress(
                JobProgress(
                    id: id, domain: job.domain, phase: "evaluating", step: job.totalSteps, totalSteps: job.totalSteps,
                    loss: nil, tokensPerSecond: nil, etaSeconds: nil, spectralExcess: nil, startedAt: started))
            try evaluate(
                job: job, runner: runner, parent: parent, data: data, holdouts: holdouts, candidate: candidate,
                strategy: strategy)
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

    /// A domain's holdout rows, as the forgetting monitor scores them.
    func holdout(of domain: String) throws -> [PackedRow] {
        try UpdateData.load(
            domain: domain, registry: registry, blobs: blobs, tokenizer: lm.tokenizer,
            sequenceLength: config.training.sequenceLength, holdoutFraction: config.ingest.holdoutFraction,
            holdoutRows: config.monitor.holdoutRows, packTrain: false
        ).holdout
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

    func evaluate(
        job: JobRecord, runner: UpdateRunner, parent: VersionRecord, data: UpdateData,
        holdouts: [String: [PackedRow]], candidate: String, strategy: Strategy
    ) throws {
        if baseGeneral == nil { baseGeneral = runner.baseGeneral(generalDocuments) }
        let e = try runner.evaluate(
            domain: job.domain, candidate: candidate, newHoldout: data.holdout, references: parent.references,
            holdouts: holdouts, general: generalDocuments, baseGeneral: baseGeneral)
        let accept = e.decision.action == .accept
        let hash = try blobs.put(try Data(contentsOf: URL(fileURLWithPath: candidate)))
        var refs = parent.references
        if accept { refs[job.domain] = e.newDomainLoss }
        var losses = parent.losses
        for (d, l) in e.losses { losses[d] = l }
        let reasons = e.decision.reasons.map {
            GateReasonRecord(
                severity: $0.severity.rawValue, metric: $0.metric, value: $0.value, reference: $0.reference,
                degradationPercent: $0.degradationPercent, thresholdPercent: $0.thresholdPercent)
        }
        let message =
            accept
            ? String(
                format: "accepted: %@ holdout %.4f (base %.4f)", job.domain, e.newDomainLoss, e.newDomainBaseLoss)
            : "rolled back: " + reasons.filter { $0.severity != "warning" }.map(Self.describe).joined(separator: "; ")
        let version = VersionRecord(
            id: 0, parentID: parent.id, domain: job.domain, jobID: job.id, state: "", adaptersHash: hash,
            configHash: configHash(strategy: strategy.rawValue), dataHashes: data.documentHashes, references: refs,
            losses: losses, general: e.general, reasons: reasons, createdAt: 0, active: false)
        let vid = try registry.conclude(job: job.id, candidate: version, accept: accept, message: message)
        publish(["event": "job", "job": "\(job.id)", "state": accept ? "accepted" : "rolled_back"])
        for r in reasons where r.severity == "warning" || r.severity == "critical" {
            let metricDomain = r.metric.hasPrefix("holdout:") ? String(r.metric.dropFirst(8)) : job.domain
            raise(
                r.severity == "critical" ? .driftCritical : .driftWarning,
                "\(Self.describe(r)) after learning \(job.domain)", domain: metricDomain, version: vid,
                fields: [
                    "benchmark": r.metric, "drift_pct": String(format: "%.3f", r.degradationPercent),
                    "threshold_pct": String(format: "%.1f", r.thresholdPercent),
                    "action": accept ? "accepted with warning" : "rollback",
                ])
        }
        if accept {
            raise(.updateAccepted, "version \(vid) is active: \(message)", domain: job.domain, version: vid, fields: ["action": "promote"])
            return
        }
        raise(.rollback, "version \(vid) \(message); version \(parent.id) stays active", domain: job.domain, version: vid,
            fields: ["action": "rollback"])
        if config.monitor.onBreach == .retryFrozen, strategy != .frozen {
            let retry = try registry.enqueue(
                domain: job.domain, strategy: Strategy.frozen.rawValue, totalSteps: config.training.steps,
                notBefore: Date().timeIntervalSince1970)
            logger.notice("retrying \(job.domain) on the frozen substrate as job \(retry)", metadata: ["domain": "\(job.domain)"])
        }
    }

    static func describe(_ r: GateReasonRecord) -> String {
        r.severity == "not_learned"
            ? String(format: "%@ did not learn (%.4f, base %.4f)", r.metric, r.value, r.reference)
            : String(
                format: "%@ drifted %+.2f%% (%.4f vs %.4f, %@ threshold %.1f%%)", r.metric, r.degradationPercent, r.value,
                r.reference, r.severity, r.thresholdPercent)
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

    /// Cancels a queued job at once, or a running one at its next step boundary.
    public func cancel(job id: Int64) throws -> JobState {
        guard let job = try registry.job(id) else { throw RegistryError.noSuchJob(id) }
        switch job.state {
        case .queued:
            try registry.transition(job: id, .cancel, message: "cancelled by the operator")
            return .cancelled
        case .training, .evaluating:
            cond.lock()
            cancelRequested.insert(id)
            cond.unlock()
            return job.state
        default:
            throw JobControlError.alreadyFinished(id, job.state)
        }
    }

    /// Queues another update of `domain` with `strategy`.
    public func retry(domain: String, strategy: Strategy) throws -> Int64 {
        guard try registry.domainNames().contains(domain) else { throw JobControlError.noSuchDomain(domain) }
        guard UpdateRunner.supportedStrategies.contains(strategy) else {
            throw UpdateError.unsupportedStrategy(strategy.rawValue)
        }
        let id = try registry.enqueue(
            domain: domain, strategy: strategy.rawValue, totalSteps: config.training.steps,
            notBefore: Date().timeIntervalSince1970)
        wake()
        return id
    }
}

public enum JobControlError: Error, Equatable, CustomStringConvertible {
    case alreadyFinished(Int64, JobState)
    case noSuchDomain(String)

    public var description: String {
        switch self {
        case .alreadyFinished(let id, let s): "job \(id) is already \(s.rawValue)"
        case .noSuchDomain(let d): "no domain \(d) (see `crmactl domains`)"
        }
    }
}
