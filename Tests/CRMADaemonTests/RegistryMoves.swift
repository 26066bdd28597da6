import CRMAWire
@testable import CRMADaemon

/// Tests move jobs as the job runner does (``JobRunner/moveIfStill(_:_:_:message:in:)``): ``JobMachine``
/// decides, the registry stores.
extension Registry {
    @discardableResult
    func transition(job id: Int64, _ event: JobEvent, ifStill expected: JobState? = nil, message: String? = nil) throws
        -> JobTransition?
    {
        try JobRunner.moveIfStill(id, try expected ?? self.job(id)!.state, event, message: message, in: self)
    }

    /// Concludes an evaluating job with the machine's state for what happened.
    @discardableResult
    func conclude(job id: Int64, candidate v: VersionRecord, accept: Bool, message: String) throws -> Conclusion {
        try conclude(job: id, from: .evaluating, candidate: v, accept: accept) { c in
            (try JobMachine.apply(c.event, to: .evaluating).get().state, c.isStale ? "not promoted: " + message : message)
        }
    }
}

extension Registry.Conclusion {
    var isStale: Bool {
        if case .stale = self { true } else { false }
    }
}
