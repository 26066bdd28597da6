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
    /// and applies the outcome of `train` or `evaluate` as the next event.
    func run(_ record: JobRecord) {
        let strategy = Strategy(rawValue: record.strategy)
        var run = JobRun(
            job: record, strategy: strategy ?? config.training.strategy,
            update: DomainUpdate(model: lm.model, config: config.continualConfig(strategy: strategy ?? .naive)))
        var next: JobEvent? =
            strategy == nil
            ? .fail(
                "unknown strategy \(record.strategy); use one of \(Strategy.allCases.map(\.rawValue).joined(separator: ", "))"
            )
            : record.state == .queued ? .start : .recover
        while let event = next {
            next = nil
            do {
                let transition = try commit(event, &run)
                for action in transition.actions {
                    if let outcome = try perform(action, &run) { next = outcome }
                }
            } catch {
                setProgress(nil)
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
                    try? FileManager.default.removeItem(atPath: jobDirectory(record.id))
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
            // When the registry cannot record it (the job may have concluded already), the failure is
            // still announced, cleaned up and alerted.
            transition = try JobMachine.apply(event, to: run.job.state).get()
            _ = try? registry.moveJob(id, from: run.job.state, to: transition.state, message: message)
        case .cancel:
            let step = run.cancelledAtStep ?? run.job.step
            transition = try move(id, run.job.state, event, message: "cancelled by the operator at step \(step)")
            logger.notice("job \(id) cancelled at step \(step)")
        case .start, .recover:
            transition = try move(id, run.job.state, event)
        }
        run.job.state = transition.state
        if transition.state.isFinal { setProgress(nil) }
        return transition
    }

    /// Performs one action of a transition; returns the job's next event when the action has an outcome.
    private func perform(_ action: JobAction, _ run: inout JobRun) throws -> JobEvent? {
        let id = run.job.id
        switch action {
        case .train(let resume):
            if !resume {
                // A job that starts fresh owns nothing yet: whatever a directory of its id holds (left by a
                // job of an earlier registry with the same id) is not its parent, data or checkpoint.
                try? FileManager.default.removeItem(atPath: jobDirectory(id))
            }
            return try train(&run)
        case .evaluate:
            return try evaluate(&run)
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
            try? FileManager.default.removeItem(atPath: jobDirectory(id))
        }
        return nil
    }

    /// Reads the job's parent version and the pipeline's inputs (once), and fixes its total steps.
    private func prepare(_ run: inout JobRun) throws -> (VersionRecord, UpdateInputs) {
        if let p = run.parent, let i = run.inputs { return (p, i) }
        let parent = try parentVersion(of: run.job)
        let inputs = try updateInputs(job: run.job, parent: parent, strategy: run.strategy)
        guard !inputs.job.domain.holdout.isEmpty else { throw UpdateError.noHoldout(run.job.domain) }
        let total = run.update.totalSteps(inputs.job)
        if run.job.totalSteps != total {
            try registry.setTotalSteps(job: run.job.id, total)
            run.job.totalSteps = total
        }
        run.parent = parent
        run.inputs = inputs
        return (parent, inputs)
    }

    /// `train`: the pipeline's training with checkpoints, stopped at a step boundary for a cancel or a stop.
    private func train(_ run: inout JobRun) throws -> JobEvent? {
        let (parent, inputs) = try prepare(&run)
        let job = run.job
        let id = job.id
        let total = job.totalSteps
        logger.info(
            "training \(job.domain): \(inputs.job.domain.train.count) rows × \(config.training.sequenceLength) tokens, \(total) steps, \(run.strategy.rawValue)",
            metadata: ["domain": "\(job.domain)", "job": "\(id)"])
        let parentState = try LearnedState.load(parent.adaptersHash.map { blobs.path($0) }, model: lm.model)
        var meter = ProgressMeter(job: job, started: run.started)
        let outcome = try run.update.train(inputs.job, parent: parentState) { event in
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
                run.cancelledAtStep = step
                return .cancel
            }
            logger.notice("job \(id) checkpointed at step \(step); it resumes at the next start")
            return nil
        case .trained(let candidate):
            try candidate.state.save(to: candidatePath(id))
            if let u = candidate.stabilityStop { raiseStabilityStop(u, domain: job.domain) }
            return .trained
        }
    }

    /// `evaluate`: every holdout and the general benchmarks scored with the candidate; the gate's decision.
    private func evaluate(_ run: inout JobRun) throws -> JobEvent {
        let (_, inputs) = try prepare(&run)
        let job = run.job
        setProgress(
            JobProgress(
                id: job.id, domain: job.domain, phase: "evaluating", step: job.totalSteps, totalSteps: job.totalSteps,
                loss: nil, tokensPerSecond: nil, etaSeconds: nil, spectralExcess: nil, startedAt: run.started))
        let candidate = try LearnedState.load(candidatePath(job.id), model: lm.model)
        // Model requests wait for the scored parts (a holdout, the general benchmarks), not the whole evaluation.
        let evaluation = run.update.evaluate(candidate, job: inputs.job, general: general.check(lm)) {
            scheduler.serveWaiting()
        }
        run.evaluation = evaluation
        return evaluation.decision.action == .accept ? .accept : .rollback
    }

    private func raiseStabilityStop(_ u: StabilityStop, domain: String) {
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
