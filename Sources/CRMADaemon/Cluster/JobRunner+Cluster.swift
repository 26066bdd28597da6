import CRMAWire
import Foundation
import Logging
import Synchronization

/// The slurm engine (cluster.engine = "slurm"): the job runner's thread submits each update as a Slurm
/// batch job running `crmad worker DIR`, follows the jobs in flight every few seconds, and concludes each
/// as the local engine does — the gate's decision, the compare-and-swap promotion and the alerts stay here.
extension JobRunner {
    /// Seconds between two looks at the jobs in flight.
    static let clusterPollSeconds = 2.0

    /// The Slurm job name of job `id`'s submission number `attempt`: unique per registry and submission, so
    /// a job submitted just before a crash is found again, never submitted twice.
    func clusterJobName(_ id: Int64, attempt: Int) -> String { "crmad-\(instance)-\(id)-\(attempt)" }

    /// `train` on the slurm engine: writes the job directory's inputs and submits the worker. No outcome:
    /// the job stays `training` until Slurm says how it ended. `fresh`: a new submission (a start, a rebase,
    /// a retrain); else the job's current one, adopted by its name when Slurm has it (a restart).
    func submit(_ run: inout JobRun, fresh: Bool) throws -> JobEvent? {
        let id = run.job.id
        _ = try prepare(&run)
        let submission =
            fresh ? try registry.startClusterSubmission(id, resubmissions: 0) : try registry.currentClusterSubmission(id)
        run.job.cluster = try submitWorker(run.job, submission, directory: run.directory)
        return nil
    }

    /// Finds the submission's Slurm job by name or runs sbatch, and stores its id. A controller that does not
    /// answer leaves the job without a Slurm job: the next poll submits it again (under the same name).
    private func submitWorker(
        _ job: JobRecord, _ submission: Registry.ClusterSubmission, directory: JobDirectory
    ) throws -> ClusterJob? {
        let name = clusterJobName(job.id, attempt: submission.attempt)
        let slurmID: String
        do {
            slurmID = try slurm.find(name: name) ?? slurm.submit(directory, name: name, crmad: workerExecutable)
        } catch let e as SlurmError where e.isUnreachable {
            alerts.record(error: "cannot submit job \(job.id) (\(job.domain)) to Slurm, trying again: \(e)")
            return nil
        }
        try registry.setClusterJob(job.id, slurmID: slurmID)
        logger.notice(
            "job \(job.id) (\(job.domain)) submitted as Slurm job \(slurmID)",
            metadata: ["job": "\(job.id)", "slurm_job": "\(slurmID)", "domain": "\(job.domain)"])
        let cluster = ClusterJob(id: slurmID, resubmissions: submission.resubmissions)
        setProgress(clusterProgress(job, cluster, state: "PENDING", node: "", directory: directory))
        return cluster
    }

    /// One look at every cluster job in flight (concluding those that ended), then as many queued jobs
    /// started as cluster.max_parallel allows, never two of one domain.
    func followClusterJobs() {
        let inFlight: [JobRecord]
        do {
            inFlight = try registry.interruptedJobs()
        } catch {
            alerts.record(error: "cannot read the job queue: \(error)")
            return
        }
        for job in inFlight where !isStopping { follow(job) }
        guard !isStopping else { return }
        if (try? registry.setting("paused")) == "1" || !disk.jobsMayRun { return }
        var busy = ((try? registry.interruptedJobs()) ?? []).map(\.domain)
        while busy.count < config.cluster.maxParallel, !isStopping {
            let next: JobRecord?
            do {
                next = try registry.nextReadyJob(now: Date().timeIntervalSince1970, busy: busy)
            } catch {
                alerts.record(error: "cannot read the job queue: \(error)")
                return
            }
            guard let job = next else { break }
            busy.append(job.domain)
            run(job)
            afterEachJob()
        }
    }

    /// Follows one job in flight: a job without a Slurm job (crmad stopped before it was submitted, or
    /// Slurm did not answer) is submitted; one whose Slurm job ended is concluded, resubmitted, failed or
    /// cancelled.
    private func follow(_ job: JobRecord) {
        guard job.state == .training, let cluster = job.cluster else {
            // Evaluating (crmad stopped while concluding), or training without a Slurm job: the runner resumes it.
            if job.state == .training && cancelRequestedAndClear(job.id) {
                run(job, first: .cancel, note: "cancelled by the operator before it reached Slurm")
            } else {
                run(job)
            }
            afterEachJob()
            return
        }
        let dir = workDirectory(job.id)
        let info: SlurmClient.JobInfo?
        do {
            info = try slurm.info(cluster.id)
        } catch {
            // The controller does not answer: the job is still Slurm's; look again at the next poll.
            alerts.record(error: "cannot ask Slurm about job \(cluster.id) (job \(job.id)): \(error)")
            return
        }
        guard let info else {
            // The controller answers but knows nothing of it (purged, no accounting): what the worker left decides.
            if (try? dir.readMeasurement()) != nil {
                finishClusterTraining(job)
            } else {
                run(job, first: .fail("Slurm no longer knows its job \(cluster.id), and \(dir.path) holds no measurement"))
            }
            afterEachJob()
            return
        }
        guard let state = SlurmJobState(info.state) else {
            if unknownStates.withLock({ $0.insert("\(cluster.id) \(info.state)").inserted }) {
                logger.warning("Slurm job \(cluster.id) (job \(job.id)) is in a state crmad does not know, \(info.state); still following it")
            }
            return
        }
        switch ClusterDecision.decide(
            state, requeues: cluster.resubmissions, maxRequeues: config.cluster.maxRequeues,
            stderrTail: dir.standardErrorTail())
        {
        case .follow:
            if pendingCancel(job.id) { scancelOnce(cluster.id, job: job.id) }
            let p = clusterProgress(job, cluster, state: info.state, node: info.node, directory: dir)
            if p.step != job.step { try? registry.setProgress(job: job.id, step: p.step) }
            setProgress(p)
            return
        case .conclude:
            finishClusterTraining(job)
        case .resubmit(let reason):
            if cancelRequestedAndClear(job.id) {
                run(job, first: .cancel, note: "cancelled by the operator (\(reason.lowercased()), not resubmitted)")
            } else {
                resubmit(job, cluster, reason: reason, directory: dir)
                return
            }
        case .fail(let reason):
            run(job, first: .fail("\(reason) (Slurm job \(cluster.id) on \(info.node.isEmpty ? "no node" : info.node))"))
        case .cancel:
            let byOperator = cancelRequestedAndClear(job.id)
            let step = dir.lastProgress()?.step ?? job.step
            run(
                job, first: .cancel,
                note: byOperator
                    ? "cancelled by the operator at step \(step) (Slurm job \(cluster.id))"
                    : "cancelled outside crmad at step \(step): Slurm job \(cluster.id) was cancelled (scancel)")
        }
        afterEachJob()
    }

    /// The worker finished: the job's training ended, and its measurement is judged here.
    private func finishClusterTraining(_ job: JobRecord) {
        if let r = try? workDirectory(job.id).readTrained(), let u = r.stabilityStop {
            raiseStabilityStop(u, domain: job.domain)
        }
        run(job, first: .trained)
    }

    /// Submits the job again after TIMEOUT, NODE_FAIL or PREEMPTED; the worker resumes from its checkpoint.
    private func resubmit(_ job: JobRecord, _ cluster: ClusterJob, reason: String, directory: JobDirectory) {
        do {
            let submission = try registry.startClusterSubmission(job.id, resubmissions: cluster.resubmissions + 1)
            guard let next = try submitWorker(job, submission, directory: directory) else { return }
            let step = directory.lastProgress()?.step ?? job.step
            logger.warning(
                "job \(job.id) (\(job.domain)): \(reason); resubmitted as Slurm job \(next.id), resuming from its checkpoint (last step \(step))",
                metadata: ["job": "\(job.id)", "slurm_job": "\(next.id)", "domain": "\(job.domain)"])
        } catch {
            run(job, first: .fail("\(reason), and it could not be resubmitted: \(error)"))
            afterEachJob()
        }
    }

    /// `scancel`, once per Slurm job, for an operator's cancel (or a failed job's live Slurm job); its end is
    /// concluded at the next poll.
    func scancelOnce(_ slurmID: String, job id: Int64) {
        guard scancelled.withLock({ $0.insert(slurmID).inserted }) else { return }
        do {
            try slurm.cancel(slurmID)
            logger.notice("job \(id): scancel \(slurmID)", metadata: ["job": "\(id)", "slurm_job": "\(slurmID)"])
        } catch {
            alerts.record(error: "cannot cancel Slurm job \(slurmID) (job \(id)): \(error)")
            _ = scancelled.withLock { $0.remove(slurmID) }
        }
        wake()
    }

    /// A failing job's Slurm job, if one still runs under its current name (a failure between sbatch and
    /// storing its id, or in crmad itself): cancelled, so no worker outlives its job.
    func cancelLiveSubmission(of id: Int64) {
        guard let attempt = try? registry.clusterAttemptNumber(id), attempt > 0 else { return }
        try? slurm.cancel(name: clusterJobName(id, attempt: attempt))
    }

    /// A cluster job's progress as status shows it: the worker's last progress line, with Slurm's view.
    private func clusterProgress(
        _ job: JobRecord, _ cluster: ClusterJob, state: String, node: String, directory: JobDirectory
    ) -> JobProgress {
        var p =
            directory.lastProgress()
            ?? JobProgress(
                id: job.id, domain: job.domain, phase: "training", step: job.step, totalSteps: job.totalSteps,
                loss: nil, tokensPerSecond: nil, etaSeconds: nil, spectralExcess: nil, startedAt: job.updatedAt)
        p.cluster = ClusterProgress(job: cluster.id, state: state, node: node, resubmissions: cluster.resubmissions)
        return p
    }
}
