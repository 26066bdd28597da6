import CRMAWire

/// What can happen to an update job: the inputs of ``JobMachine``.
public enum JobEvent: Sendable, Equatable {
    /// The worker picked the job (fresh or resumed from a checkpoint).
    case start
    /// Training reached its last step.
    case trained
    /// The gate accepted the candidate.
    case accept
    /// The gate refused the candidate.
    case rollback
    /// An error the job cannot recover from (bad data, I/O).
    case fail(String)
    /// An operator cancelled the job.
    case cancel
    /// The daemon restarted while the job was in this state.
    case recover
}

public enum JobAction: Sendable, Equatable {
    case train(resume: Bool)
    case stopTraining
    case evaluate
    case promote
    case keepActiveVersion
    case deleteCheckpoints
    case alert(String)
}

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
/// the actions the daemon must take. Invalid events are reported, never applied.
public enum JobMachine {
    public static func apply(_ event: JobEvent, to state: JobState) -> Result<JobTransition, InvalidJobEvent> {
        switch (state, event) {
        case (.queued, .start): return .success(.init(state: .training, actions: [.train(resume: false)]))
        case (.training, .trained): return .success(.init(state: .evaluating, actions: [.evaluate]))
        case (.evaluating, .accept):
            return .success(.init(state: .accepted, actions: [.promote, .deleteCheckpoints, .alert("update_accepted")]))
        case (.evaluating, .rollback):
            return .success(
                .init(state: .rolledBack, actions: [.keepActiveVersion, .deleteCheckpoints, .alert("rollback")]))
        case (.queued, .fail), (.training, .fail), (.evaluating, .fail):
            return .success(.init(state: .failed, actions: [.deleteCheckpoints, .alert("job_failed")]))
        case (.queued, .cancel): return .success(.init(state: .cancelled, actions: []))
        case (.training, .cancel), (.evaluating, .cancel):
            return .success(.init(state: .cancelled, actions: [.stopTraining, .deleteCheckpoints]))
        // After a restart: a training job continues from its last checkpoint; an evaluating job is
        // evaluated again (evaluation has no side effects until promotion, which is one transaction).
        case (.training, .recover): return .success(.init(state: .training, actions: [.train(resume: true)]))
        case (.evaluating, .recover): return .success(.init(state: .evaluating, actions: [.evaluate]))
        case (.queued, .recover): return .success(.init(state: .queued, actions: []))
        default: return .failure(InvalidJobEvent(state: state, event: event))
        }
    }
}
