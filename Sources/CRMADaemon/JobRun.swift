import CRMAContinual
import CRMAWire
import Foundation

/// One job as the job runner runs it: what it learned so far on the way through its actions.
struct JobRun {
    var job: JobRecord
    let strategy: Strategy
    let update: DomainUpdate
    /// Where its worker reads the inputs and writes what it made.
    let directory: JobDirectory
    let started = Date().timeIntervalSince1970
    /// The parent version and the pipeline's inputs, read before the first `train` or `evaluate`.
    var parent: VersionRecord?
    var inputs: UpdateInputs?
    /// The gate's evaluation of the candidate, and how the registry concluded it.
    var evaluation: UpdateEvaluation?
    var conclusion: Registry.Conclusion?
    var reasons: [GateReasonRecord] = []
    var message = ""
    /// Why the job failed.
    var note: String?
    /// The step at which training stopped for an operator's cancel.
    var cancelledAtStep: Int?
}
