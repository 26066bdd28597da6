import CRMAWire
@testable import CRMADaemon

/// Tests move jobs as the update worker does: ``JobMachine`` decides, the registry stores.
extension Registry {
    @discardableResult
    func transition(job id: Int64, _ event: JobEvent, ifStill expected: JobState? = nil, message: String? = nil) throws
        -> JobTransition?
    {
        let state = try expected ?? self.job(id)!.state
        let t = try JobMachine.apply(event, to: state).get()
        return try moveJob(id, from: state, to: t.state, message: message) ? t : nil
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
