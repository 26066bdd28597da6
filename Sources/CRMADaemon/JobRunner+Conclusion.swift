import CRMAContinual
import CRMAMonitor
import CRMAWire
import Foundation

extension JobRunner {
    /// Stores the candidate as a version and concludes the job in one transaction: promoted only when the
    /// gate accepted it and its parent is still active (``Registry/conclude(job:from:candidate:accept:finish:)``);
    /// the job's move is ``JobMachine``'s, applied here.
    func conclude(_ run: inout JobRun, accept: Bool) throws -> JobTransition {
        guard let parent = run.parent, let inputs = run.inputs, let e = run.evaluation else {
            preconditionFailure("a job is concluded only after its evaluate action")
        }
        let job = run.job
        let hash = try blobs.put(try Data(contentsOf: URL(fileURLWithPath: run.directory.candidate)))
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
                strategy: run.strategy.rawValue, reference: e.newDomain.mean,
                holdoutRows: try StoredDomain.pin(inputs.job.domain.holdout, blobs: blobs),
                holdoutDocuments: inputs.holdoutDocuments, sequenceLength: config.training.sequenceLength)
        }
        var losses = parent.losses
        for (d, s) in e.earlier { losses[d] = s.mean }
        losses[job.domain] = e.newDomain.mean
        let reasons = e.decision.reasons.map(GateReasonRecord.init)
        let version = VersionRecord(
            id: 0, parentID: parent.id, domain: job.domain, jobID: job.id, state: "", adaptersHash: hash,
            configHash: configHash(strategy: run.strategy.rawValue), dataHashes: inputs.documentHashes,
            references: lineage.mapValues(\.reference), losses: losses, general: e.general, reasons: reasons,
            createdAt: 0, active: false, lineage: lineage)
        let state = run.job.state
        var outcome: (transition: JobTransition, message: String)?
        let conclusion = try registry.conclude(job: job.id, from: state, candidate: version, accept: accept) { c in
            let o = (
                transition: try JobMachine.apply(c.event, to: state).get(),
                message: Self.message(c, e, reasons: reasons, domain: job.domain, parent: parent.id)
            )
            outcome = o
            return (o.transition.state, o.message)
        }
        // `conclude` returns only after `finish` ran, so the outcome is set.
        guard let outcome else { preconditionFailure("Registry.conclude returned without its finish") }
        run.conclusion = conclusion
        run.reasons = reasons
        run.message = outcome.message
        return outcome.transition
    }

    /// What became of a concluded job, in one sentence (the job's message and its final alert's text).
    static func message(
        _ c: Registry.Conclusion, _ e: UpdateEvaluation, reasons: [GateReasonRecord], domain: String, parent: Int64
    ) -> String {
        switch c {
        case .promoted(let v):
            String(
                format: "version %lld is active: accepted: %@ holdout %.4f (base %.4f)", v, domain, e.newDomain.mean,
                e.newDomainBaseLoss)
        case .rolledBack(let v):
            "version \(v) rolled back: "
                + reasons.filter(\.severity.blocksPromotion).map(\.sentence).joined(separator: "; ")
                + "; version \(parent) stays active"
        case .stale(let v, let active):
            "not promoted: version \(v) (\(domain)) passed the gate, but version \(active) became active while it "
                + "trained on version \(parent); queue it again with crmactl retry \(domain)"
        }
    }

    /// The alerts of a concluded job: one per gate warning or breach, then `kind` saying what became of it
    /// (promoted, rolled back, or stored but not promoted because another version became active meanwhile).
    func raiseConclusionAlerts(_ run: JobRun, kind: AlertKind) {
        guard let conclusion = run.conclusion else { return }
        let job = run.job
        let vid = conclusion.version
        let accepted = run.evaluation?.decision.action == .accept
        for r in run.reasons where r.severity == .warning || r.severity == .critical || r.severity == .nonFinite {
            alerts.raise(
                r.severity == .warning ? .driftWarning : .driftCritical,
                "\(r.sentence) after learning \(job.domain)", domain: r.metric.domain ?? job.domain, version: vid,
                fields: [
                    "benchmark": r.metric.description, "drift_pct": String(format: "%.3f", r.degradationPercent),
                    "threshold_pct": String(format: "%.1f", r.thresholdPercent),
                    "action": accepted ? "accepted with warning" : "rollback",
                ])
        }
        switch conclusion {
        case .promoted:
            alerts.raise(kind, run.message, domain: job.domain, version: vid, fields: ["action": "promote"])
        case .stale(_, let active):
            alerts.raise(
                kind, run.message, domain: job.domain, version: vid,
                fields: ["action": "stale", "active_version": "\(active)"])
        case .rolledBack:
            alerts.raise(kind, run.message, domain: job.domain, version: vid, fields: ["action": "rollback"])
        }
    }
}

extension Registry.Conclusion {
    /// The job's event for this conclusion (``JobMachine``).
    var event: JobEvent {
        switch self {
        case .promoted: .accept
        case .rolledBack: .rollback
        case .stale: .stale
        }
    }
}
