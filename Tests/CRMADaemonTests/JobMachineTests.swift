import CRMAModel
import CRMATraining
import CRMAWire
import Foundation
import Testing
@testable import CRMADaemon

@Suite struct JobMachineTests {
    func next(_ e: JobEvent, _ s: JobState) -> JobState? { try? JobMachine.apply(e, to: s).get().state }

    /// A sibling's promotion moved an evaluating job's parent: it goes back to training, rebased (frozen) or
    /// retrained from scratch (the others); only an evaluating job can be.
    @Test func aMovedParentRebasesOrRetrains() throws {
        #expect(try JobMachine.apply(.rebase, to: .evaluating).get() == .init(state: .training, actions: [.announce, .rebase]))
        #expect(
            try JobMachine.apply(.retrain, to: .evaluating).get()
                == .init(state: .training, actions: [.announce, .train(resume: false)]))
        for s: JobState in [.queued, .training] {
            #expect(next(.rebase, s) == nil && next(.retrain, s) == nil)
        }
    }

    @Test func theHappyPathAndItsActions() throws {
        #expect(try JobMachine.apply(.start, to: .queued).get() == .init(state: .training, actions: [.train(resume: false)]))
        #expect(try JobMachine.apply(.trained, to: .training).get() == .init(state: .evaluating, actions: [.evaluate]))
        let accepted = try JobMachine.apply(.accept, to: .evaluating).get()
        #expect(accepted == .init(state: .accepted, actions: [.announce, .alert(.updateAccepted), .deleteCheckpoints]))
    }

    @Test func onlyAGateRollbackRetriesOnTheFrozenSubstrate() throws {
        let rolled = try JobMachine.apply(.rollback, to: .evaluating).get()
        #expect(rolled.state == .rolledBack)
        #expect(rolled.actions == [.announce, .alert(.rollback), .retryFrozen, .deleteCheckpoints])
        // Stale: the gate accepted it, but another version became active meanwhile; retrying frozen is no fix.
        let stale = try JobMachine.apply(.stale, to: .evaluating).get()
        #expect(stale.state == .rolledBack)
        #expect(stale.actions == [.announce, .alert(.rollback), .deleteCheckpoints])
    }

    @Test func failingAndCancellingARunningJobCleanUpItsCheckpoints() throws {
        for s: JobState in [.training, .evaluating] {
            #expect(try JobMachine.apply(.fail("x"), to: s).get().actions == [.announce, .deleteCheckpoints, .alert(.jobFailed)])
            #expect(try JobMachine.apply(.cancel, to: s).get().actions == [.announce, .deleteCheckpoints])
        }
        #expect(try JobMachine.apply(.cancel, to: .queued).get().actions == [])
    }

    @Test func restartResumesFromCheckpointOrReEvaluates() throws {
        #expect(try JobMachine.apply(.recover, to: .training).get().actions == [.train(resume: true)])
        #expect(try JobMachine.apply(.recover, to: .evaluating).get().actions == [.evaluate])
    }

    @Test func cancelAndFailFromEveryLiveState() {
        for s: JobState in [.queued, .training, .evaluating] {
            #expect(next(.cancel, s) == .cancelled)
            #expect(next(.fail("x"), s) == .failed)
        }
    }

    @Test func finalStatesTakeNoEvent() {
        let events: [JobEvent] = [
            .start, .trained, .accept, .rollback, .stale, .fail("x"), .cancel, .recover, .rebase, .retrain,
        ]
        for s in JobState.allCases where s.isFinal {
            for e in events { #expect(next(e, s) == nil, "\(s) took \(e)") }
        }
        #expect(next(.accept, .training) == nil)
        #expect(next(.stale, .training) == nil)
        #expect(next(.trained, .queued) == nil)
        #expect(next(.start, .training) == nil)
    }
}
