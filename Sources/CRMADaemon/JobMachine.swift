import CRMAWire

/// What can happen to an update job: the inputs of ``JobMachine``.
public enum JobEvent: Sendable, Equatable {
    /// The job runner picked a queued job.
    case start
    /// Training reached its last step.
    case trained
    /// The gate accepted the candidate and its parent was still the active version: it is promoted.
    case accept
    /// The gate refused the candidate.
    case rollback
    /// The gate accepted the candidate, but another version became active while it was built (the
    /// compare-and-swap promotion failed): it is stored, not promoted.
    case stale
    /// An error the job cannot recover from (bad data, I/O).
    case fail(String)
    /// An operator cancelled the job.
    case cancel
    /// The job runner picked a job that was training or evaluating when the daemon last stopped.
    case recover
    /// Before the gate decided, another update of a job in flight at the same time was promoted (the active
    /// version descends from this job's parent): a candidate whose strategy trains only its own LoRA is
    /// placed onto the new active version and measured again (scoring only).
    case rebase
    /// As `rebase`, for a strategy whose parameters depend on what changed: trained again from the new
    /// active version.
    case retrain
}

/// What the job runner does after a transition, in order. The outcome of `train` and `evaluate` is the
/// job's next event; the others finish a job that reached a final state.
public enum JobAction: Sendable, Equatable {
    /// Train through the update pipeline, from the job's last checkpoint when `resume`. Outcome: `.trained`,
    /// or `.cancel` when an operator cancelled it, or none when the daemon stops (the job stays `training`
    /// with its checkpoint and resumes at the next start).
    case train(resume: Bool)
    /// Score the candidate and let the gate decide. Outcome: `.accept`, `.rollback` or `.stale`, committed
    /// together with the candidate's version and the promotion in one transaction (`Registry.conclude`).
    case evaluate
    /// Tell event subscribers the job's new state.
    case announce
    /// Raise the alert of this kind about how the job ended (for a concluded job, first one alert per gate
    /// warning or breach).
    case alert(AlertKind)
    /// Queue the domain again on the frozen substrate when `monitor.on_breach = retry-frozen` and the job
    /// did not train it already.
    case retryFrozen
    /// Remove the job's directory: its checkpoints, its parent pointer and its candidate.
    case deleteCheckpoints
    /// Place the candidate's own LoRA onto the active version, pin that version as the job's parent, and
    /// measure again. Outcome: `.trained` (measured next), or none while a cluster job measures.
    case rebase
}

/// A job's next state and the actions the job runner performs to get there.
public struct JobTransition: Sendable, Equatable {
    public var state: JobState
    public var actions: [JobAction]
}

public struct InvalidJobEvent: Error, Equatable, CustomStringConvertible {
    public var state: JobState
    public var event: JobEvent
    public var description: String { "a \(state.rawValue) job cannot take the event \(event)" }
}

/// The life of an update job as a pure state machine: given a state and an event, the next state and
/// the actions the job runner performs (``JobRunner``). Invalid events are reported, never applied.
public enum JobMachine {
    public static func apply(_ event: JobEvent, to state: JobState) -> Result<JobTransition, InvalidJobEvent> {
        switch (state, event) {
        case (.queued, .start): return .success(.init(state: .training, actions: [.train(resume: false)]))
        case (.training, .trained): return .success(.init(state: .evaluating, actions: [.evaluate]))
        case (.evaluating, .accept):
            return .success(.init(state: .accepted, actions: [.announce, .alert(.updateAccepted), .deleteCheckpoints]))
        case (.evaluating, .rollback):
            return .success(
                .init(state: .rolledBack, actions: [.announce, .alert(.rollback), .retryFrozen, .deleteCheckpoints]))
        case (.evaluating, .stale):
            return .success(.init(state: .rolledBack, actions: [.announce, .alert(.rollback), .deleteCheckpoints]))
        case (.queued, .fail), (.training, .fail), (.evaluating, .fail):
            return .success(.init(state: .failed, actions: [.announce, .deleteCheckpoints, .alert(.jobFailed)]))
        // A queued job has nothing to stop or delete; the operator's request answers for itself.
        case (.queued, .cancel): return .success(.init(state: .cancelled, actions: []))
        // The job runner applies a cancel only once training stopped (at a step boundary or its end).
        case (.training, .cancel), (.evaluating, .cancel):
            return .success(.init(state: .cancelled, actions: [.announce, .deleteCheckpoints]))
        // After a restart: a training job continues from its last checkpoint; an evaluating job is
        // evaluated again (evaluation has no side effects until promotion, which is one transaction).
        case (.training, .recover): return .success(.init(state: .training, actions: [.train(resume: true)]))
        case (.evaluating, .recover): return .success(.init(state: .evaluating, actions: [.evaluate]))
        // A sibling's promotion moved the parent: never a stale candidate, never promoted on the old parent.
        case (.evaluating, .rebase): return .success(.init(state: .training, actions: [.announce, .rebase]))
        case (.evaluating, .retrain):
            return .success(.init(state: .training, actions: [.announce, .train(resume: false)]))
        case (.queued, .recover): return .success(.init(state: .queued, actions: []))
        default: return .failure(InvalidJobEvent(state: state, event: event))
        }
    }
}
