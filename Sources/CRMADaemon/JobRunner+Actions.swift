import CRMAContinual
import CRMAModel
import CRMAMonitor
import CRMATraining
import CRMAWire
import Foundation
import Logging

extension JobRunner {
    /// One job from its current state to a final one (or to a checkpoint when the daemon stops): the runner
    /// applies an event through the registry (``JobMachine``), performs the transition's actions in order,
    /// and applies the outcome of `train` or `evaluate` as the next event. `first`: the event to start with
    /// (a cluster job's outcome), else `start` for a queued job and `recover` for an interrupted one.
    func run(_ record: JobRecord, first: JobEvent? = nil, note: String? = nil) {
        let strategy = Strategy(rawValue: record.strategy)
        var run = JobRun(
            job: record, strategy: strategy ?? config.training.strategy,
            update: DomainUpdate(model: lm.model, config: config.continualConfig(strategy: strategy ?? .naive)),
            directory: workDirectory(record.id))
        run.note = note
        var next: JobEvent? =
            strategy == nil
            ? .fail(
                "unknown strategy \(record.strategy); use one of \(Strategy.allCases.map(\.rawValue).joined(separator: ", "))"
            )
            : first ?? (record.state == .queued ? .start : .recover)
        while let event = next {
            next = nil
            do {
                let transition = try commit(event, &run)
                for action in transition.actions {
                    if let outcome = try perform(action, &run) { next = outcome }
                }
            } catch {
                clearProgress(record.id)
                if isStopping { return }
                if case JobControlError.movedMeanwhile = error, event == .start {
                    // An operator cancelled it between the queue's answer and the start: not ours any more.
                    logger.notice("job \(record.id) left the queue before it started; skipped")
                    return
                }
                if disk.stateDirectoryIsFull() {
                    // Not the job's fault: it stays where it is and resumes from its checkpoint later.
                    disk.report("job \(record.id) (\(record.domain)) could not write: \(error)")
                    return
                }
                if run.job.state.isFinal {
                    // The job concluded; what failed is one of its closing actions (e.g. queueing the frozen
                    // retry): recorded and cleaned up, never turned into a failure of a concluded job.
                    alerts.record(error: "job \(record.id) (\(record.domain)), \(run.job.state.rawValue): \(error)")
                    removeDirectories(record.id)
                    return
                }
                if case .fail = event { return }
                next = .fail("\(error)")
            }
        }
    }

    /// Applies `event` to the job (``JobMachine``, once, here), stores its new state and returns the
    /// transition whose actions follow.
    private func commit(_ event: JobEvent, _ run: inout JobRun) throws -> JobTransition {
        let id = run.job.id
        let transition: JobTransition
        switch event {
        case .trained:
            // May become `.cancel`: a cancel accepted while the job trained takes effect now.
            transition = try finishTraining(job: id)
            if transition.state == .cancelled { logger.notice("job \(id) cancelled after its training") }
        case .accept, .rollback, .stale:
            transition = try conclude(&run, accept: event != .rollback)
            disk.recovered()
        case .fail(let message):
            run.note = message
            if config.cluster.engine == .slurm { cancelLiveSubmission(of: id) }
            // When the registry cannot record it (the job may have concluded already), the failure is
            // still announced, cleaned up and alerted.
            transition = try JobMachine.apply(event, to: run.job.state).get()
            _ = try? registry.moveJob(id, from: run.job.state, to: transition.state, message: message)
        case .cancel:
            let step = run.cancelledAtStep ?? run.job.step
            let message = run.note ?? "cancelled by the operator at step \(step)"
            transition = try move(id, run.job.state, event, message: message)
            logger.notice("job \(id) \(message)")
        case .start, .recover:
            transition = try move(id, run.job.state, event)
        case .rebase, .retrain:
            transition = try move(id, run.job.state, event, message: run.note)
            run.job.cluster = nil
        }
        run.job.state = transition.state
        if transition.state.isFinal { clearProgress(id) }
        return transition
    }

    /// Performs one action of a transition; returns the job's next event when the action has an outcome.
    private func perform(_ action: JobAction, _ run: inout JobRun) throws -> JobEvent? {
        let id = run.job.id
        switch action {
        case .train(let resume):
            if !resume {
                // A job that starts fresh owns nothing yet: whatever a directory of its id holds (left by a
                // job of an earlier registry with the same id, or its own before a retrain) is not its
                // parent, data or checkpoint.
                removeDirectories(id)
                run.parent = nil
                run.inputs = nil
                if run.job.step > 0 {  // retrained
                    try registry.setProgress(job: id, step: 0)
                    run.job.step = 0
                }
            }
            switch config.cluster.engine {
            case .local: return try train(&run)
            case .slurm: return try submit(&run, fresh: !resume)
            }
        case .evaluate:
            return try evaluate(&run)
        case .rebase:
            return try rebase(&run)
        case .announce:
            events.publish(["event": "job", "job": "\(id)", "state": run.job.state.rawValue])
        case .alert(let kind):
            if run.job.state == .failed {
                alerts.raise(
                    kind, "job \(id) for \(run.job.domain) failed: \(run.note ?? "")", domain: run.job.domain,
                    version: nil)
            } else {
                raiseConclusionAlerts(run, kind: kind)
            }
        case .retryFrozen:
            guard config.monitor.onBreach == .retryFrozen, run.strategy != .frozen else { return nil }
            let retry = try registry.enqueue(
                domain: run.job.domain, strategy: Strategy.frozen.rawValue, totalSteps: config.training.steps,
                notBefore: Date().timeIntervalSince1970)
            logger.notice(
                "retrying \(run.job.domain) on the frozen substrate as job \(retry)",
                metadata: ["domain": "\(run.job.domain)"])
        case .deleteCheckpoints:
            removeDirectories(id)
        }
        return nil
    }

    /// Reads the job's parent version and the pipeline's inputs (once), writes the job directory's inputs
    /// for the worker when it has none yet, and fixes its total steps by the settings pinned there (a job
    /// resumed after a configuration change trains as it started).
    func prepare(_ run: inout JobRun) throws -> (VersionRecord, UpdateInputs) {
        if let p = run.parent, let i = run.inputs { return (p, i) }
        let parent = try parentVersion(of: run.job)
        let inputs = try updateInputs(job: run.job, parent: parent, strategy: run.strategy)
        guard !inputs.job.domain.holdout.isEmpty else { throw UpdateError.noHoldout(run.job.domain) }
        if !run.directory.hasInputs {
            try run.directory.writeInputs(
                spec: UpdateSpec(
                    job: run.job.id, domain: run.job.domain, parentVersion: parent.id,
                    model: URL(fileURLWithPath: lm.path).standardizedFileURL.path, base: config.model.base,
                    settings: run.update.config, generalContext: config.training.sequenceLength,
                    generalBase: general.knownBase, blasThreads: config.resources.blasThreads),
                job: inputs.job, general: general.suite, parentAdapters: parent.adaptersHash.map { blobs.path($0) })
        }
        let spec = try run.directory.readSpec()
        let total = DomainUpdate(model: lm.model, config: spec.settings).totalSteps(inputs.job)
        if run.job.totalSteps != total {
            try registry.setTotalSteps(job: run.job.id, total)
            run.job.totalSteps = total
        }
        run.parent = parent
        run.inputs = inputs
        return (parent, inputs)
    }

    /// `train`: the worker's training from the job directory's last checkpoint, stopped at a step boundary for
    /// a cancel or a stop.
    private func train(_ run: inout JobRun) throws -> JobEvent? {
        let (_, inputs) = try prepare(&run)
        let job = run.job
        let id = job.id
        logger.info(
            "training \(job.domain): \(inputs.job.domain.train.count) rows × \(config.training.sequenceLength) tokens, \(job.totalSteps) steps, \(run.strategy.rawValue)",
            metadata: ["domain": "\(job.domain)", "job": "\(id)"])
        let worker = try UpdateWorker(directory: run.directory, lm: lm)
        let outcome = try worker.train(started: run.started) { event in
            switch event {
            case .started(let step, _) where step > 0:
                logger.notice(
                    "job \(id) resumed from its checkpoint at step \(step)",
                    metadata: ["job": "\(id)", "resumed_step": "\(step)", "domain": "\(job.domain)"])
            case .started: break
            case .progress(let p):
                try? registry.setProgress(job: id, step: p.step)
                setProgress(p)
            }
            return atStepBoundary(job: id) ? .stop : .more
        }
        switch outcome {
        case .stopped(let step):
            clearProgress(id)
            if cancelRequestedAndClear(id) {
                run.cancelledAtStep = step
                return .cancel
            }
            logger.notice("job \(id) checkpointed at step \(step); it resumes at the next start")
            return nil
        case .trained(let record):
            if let u = record.stabilityStop { raiseStabilityStop(u, domain: job.domain) }
            return .trained
        }
    }

    /// `evaluate`: the worker measures the candidate on every holdout and the general benchmarks; the gate
    /// decides here.
    private func evaluate(_ run: inout JobRun) throws -> JobEvent {
        let (parent, inputs) = try prepare(&run)
        if let moved = try parentMoved(&run, parent: parent) { return moved }
        let job = run.job
        setProgress(.evaluating(id: job.id, domain: job.domain, totalSteps: job.totalSteps, startedAt: run.started))
        let measurement: UpdateMeasurement
        switch config.cluster.engine {
        case .local:
            // Model requests wait for the scored parts (a holdout, the general benchmarks), not the whole evaluation.
            measurement = try UpdateWorker(directory: run.directory, lm: lm).measure(started: run.started) {
                scheduler.serveWaiting()
            }
        case .slurm:
            // Measured on the node; never here (crmad's host may be small).
            let m = try run.directory.readMeasurement()
            guard m.parentVersion == parent.id else {
                throw JobDirectoryError.unreadable(
                    run.directory.measurement, "it measured a candidate built on version \(m.parentVersion), not on the job's parent \(parent.id)")
            }
            measurement = m.scores
        }
        return judge(measurement, &run, inputs: inputs)
    }

    /// `.rebase` or `.retrain` when another update in flight at the same time was promoted while this one
    /// was built (the active version descends from its parent); nil when its parent is still active, or
    /// when an operator's rollback made another version active (the gate decides, and the candidate is
    /// stored as stale: the operator's choice is never undone).
    private func parentMoved(_ run: inout JobRun, parent: VersionRecord) throws -> JobEvent? {
        let active = try registry.activeVersionID()
        guard active != parent.id, try registry.descends(active, from: parent.id) else { return nil }
        let by = (try? registry.version(active))?.domain.map { " (\($0))" } ?? ""
        let rebase = run.strategy.rebasable && FileManager.default.fileExists(atPath: run.directory.candidate)
        run.note =
            "version \(active)\(by) became active while it was built on version \(parent.id): "
            + (rebase ? "its LoRA is placed onto version \(active) and measured again" : "trained again from version \(active)")
        logger.notice(
            "job \(run.job.id) (\(run.job.domain)): \(run.note!)",
            metadata: ["job": "\(run.job.id)", "domain": "\(run.job.domain)", "version": "\(active)"])
        return rebase ? .rebase : .retrain
    }

    /// `rebase`: the active version becomes the job's parent and its inputs are written anew (every domain
    /// of the new parent is judged); the worker then places the candidate's own LoRA onto it and measures.
    /// Each step can be repeated after a crash: the inputs go first (a job without them is prepared on its
    /// pinned parent), then the pin, then the new inputs; the candidate's record names the parent it is on.
    private func rebase(_ run: inout JobRun) throws -> JobEvent? {
        let active = try registry.activeVersionID()
        run.directory.removeInputsAndMeasurement()
        try repin(run.job.id, parent: active)
        run.parent = nil
        run.inputs = nil
        switch config.cluster.engine {
        case .local: return try train(&run)
        case .slurm: return try submit(&run, fresh: true)
        }
    }

    /// The gate's decision on a measured candidate (crmad's, whoever measured).
    func judge(_ measurement: UpdateMeasurement, _ run: inout JobRun, inputs: UpdateInputs) -> JobEvent {
        general.remember(base: measurement.generalBase)
        let evaluation = run.update.judge(measurement, job: inputs.job, generalLimits: general.settings.limits)
        run.evaluation = evaluation
        return evaluation.decision.action == .accept ? .accept : .rollback
    }

    func raiseStabilityStop(_ u: StabilityStop, domain: String) {
        // Stopped early; the full evaluation decides with every holdout row.
        alerts.raise(
            .driftCritical,
            String(
                format: "stability check stopped the update of %@ at step %d: %@ drifted %+.2f%% on its holdout slice",
                domain, u.step, u.domain, u.driftPercent), domain: u.domain, version: nil,
            fields: [
                "benchmark": MetricID.holdoutSlice(domain: u.domain).description, "drift_pct": String(format: "%.3f", u.driftPercent),
                "threshold_pct": String(format: "%.1f", config.monitor.criticalPercent),
                "action": "stopped early; evaluating",
            ])
    }
}
