import CRMAContinual
import CRMAMonitor
import CRMAWire
import Foundation

extension UpdateWorker {
    /// Stores the candidate as a version and concludes the job in one transaction: promoted only when the
    /// gate accepted it and its parent is still active (``Registry/concludeWithTransition(job:candidate:accept:message:)``).
    func conclude(_ run: inout JobRun, accept: Bool) throws -> JobTransition {
        guard let parent = run.parent, let inputs = run.inputs, let e = run.evaluation else {
            preconditionFailure("a job is concluded only after its evaluate action")
        }
        let job = run.job
        let hash = try blobs.put(try Data(contentsOf: URL(fileURLWithPath: candidatePath(job.id))))
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
            configHash: configHash(strategy: run.strategy.rawValue), dataHashes: inputs.documentHashes,
            references: lineage.mapValues(\.reference), losses: losses, general: e.general, reasons: reasons,
            createdAt: 0, active: false, lineage: lineage)
        let (conclusion, transition) = try registry.concludeWithTransition(
            job: job.id, candidate: version, accept: accept, message: message)
        run.conclusion = conclusion
        run.reasons = reasons
        run.message = message
        return transition
    }

    /// The alerts of a concluded job: one per gate warning or breach, then `kind` saying what became of it
    /// (promoted, rolled back, or stored but not promoted because another version became active meanwhile).
    func raiseConclusionAlerts(_ run: JobRun, kind: AlertKind) {
        guard let conclusion = run.conclusion, let parent = run.parent else { return }
        let job = run.job
        let vid = conclusion.version
        let accepted = run.evaluation?.decision.action == .accept
        for r in run.reasons where r.severity == "warning" || r.severity == "critical" || r.severity == "non_finite" {
            let metricDomain =
                r.metric.hasPrefix("holdout:") ? String(r.metric.dropFirst(8).split(separator: ":")[0]) : job.domain
            alerts.raise(
                r.severity == "warning" ? .driftWarning : .driftCritical,
                "\(Self.describe(r)) after learning \(job.domain)", domain: metricDomain, version: vid,
                fields: [
                    "benchmark": r.metric, "drift_pct": String(format: "%.3f", r.degradationPercent),
                    "threshold_pct": String(format: "%.1f", r.thresholdPercent),
                    "action": accepted ? "accepted with warning" : "rollback",
                ])
        }
        switch conclusion {
        case .promoted:
            alerts.raise(
                kind, "version \(vid) is active: \(run.message)", domain: job.domain, version: vid,
                fields: ["action": "promote"])
        case .stale(_, let active):
            alerts.raise(
                kind,
                "version \(vid) (\(job.domain)) passed the gate but is not promoted: version \(active) became active while it trained on version \(parent.id); queue it again with crmactl retry \(job.domain)",
                domain: job.domain, version: vid, fields: ["action": "stale", "active_version": "\(active)"])
        case .rolledBack:
            alerts.raise(
                kind, "version \(vid) \(run.message); version \(parent.id) stays active", domain: job.domain,
                version: vid, fields: ["action": "rollback"])
        }
    }

    static func describe(_ r: GateReasonRecord) -> String {
        switch r.severity {
        case "not_learned": String(format: "%@ did not learn (%.4f, base %.4f)", r.metric, r.value, r.reference)
        case "non_finite": "\(r.metric) is not finite (\(r.value) vs \(r.reference))"
        case "stale": String(format: "version %.0f became active meanwhile (parent %.0f)", r.value, r.reference)
        default:
            String(
                format: "%@ drifted %+.2f%% (%.4f vs %.4f, %@ threshold %.1f%%)", r.metric, r.degradationPercent,
                r.value,
                r.reference, r.severity, r.thresholdPercent)
        }
    }
}
