/// A Slurm job's state as `squeue -o %T`, `scontrol show job` (JobState=) or `sacct -o State` print it,
/// and what it means for crmad's update job. Pure: the mapping the slurm engine follows.
public enum SlurmJobState: Equatable, Sendable {
    /// Waiting for a node, or running (PENDING, CONFIGURING, RUNNING, COMPLETING, SUSPENDED, REQUEUED, ...).
    case inFlight(String)
    /// COMPLETED: the worker exited 0; its candidate and measurement are in the job directory.
    case completed
    /// FAILED, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE, SPECIAL_EXIT: the job failed; its stderr says why.
    case failed(String)
    /// TIMEOUT, NODE_FAIL, PREEMPTED: not the update's fault; resubmitted and resumed from its checkpoint.
    case interrupted(String)
    /// CANCELLED (by crmad's scancel for an operator's cancel, or by someone else).
    case cancelled

    /// Reads a state word; Slurm may add details ("CANCELLED by 0", "RUNNING+"), which are ignored. Nil for
    /// a word Slurm does not use (the caller keeps polling and logs it).
    public init?(_ text: String) {
        let word = text.split(whereSeparator: { $0 == " " || $0 == "+" }).first.map(String.init) ?? ""
        switch word {
        case "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED",
            "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "STOPPED":
            self = .inFlight(word)
        case "COMPLETED": self = .completed
        case "FAILED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED": self = .failed(word)
        case "TIMEOUT", "NODE_FAIL", "PREEMPTED": self = .interrupted(word)
        case "CANCELLED": self = .cancelled
        default: return nil
        }
    }
}

/// What the slurm engine does about a cluster job in `state` that was submitted `requeues` times after the
/// first, with at most `maxRequeues` resubmissions. Pure.
public enum ClusterDecision: Equatable, Sendable {
    /// Still waiting or running: show its progress.
    case follow
    /// The worker finished: the job's training ended (``JobEvent/trained``) and its measurement is judged.
    case conclude
    /// Submit it again; the worker resumes from the job directory's checkpoint.
    case resubmit(reason: String)
    case fail(reason: String)
    case cancel

    public static func decide(_ state: SlurmJobState, requeues: Int, maxRequeues: Int, stderrTail: String) -> Self {
        switch state {
        case .inFlight: return .follow
        case .completed: return .conclude
        case .cancelled: return .cancel
        case .failed(let word):
            let why = stderrTail.isEmpty ? "no output on standard error" : stderrTail
            return .fail(reason: "the Slurm job ended \(word): \(why)")
        case .interrupted(let word):
            if requeues < maxRequeues {
                return .resubmit(reason: "the Slurm job ended \(word); resubmission \(requeues + 1) of \(maxRequeues)")
            }
            return .fail(
                reason: "the Slurm job ended \(word) after \(requeues) resubmissions (cluster.max_requeues = \(maxRequeues))")
        }
    }
}
