import CRMATestSupport
import CRMAWire
import Foundation
import Testing
@testable import CRMADaemon

/// What `Daemon.cancel(job:)` promises: a cancel it accepts takes effect, and one it cannot honour is
/// refused. Jobs are moved through their states by hand; the worker is not started.
@Suite struct JobCancelTests {
    static let lm = try! TinyModels.load("llama-f32.gguf")
    let dir = TempDirectory("cancel")

    func daemon() throws -> Daemon { try dir.idleDaemon(Self.lm) }

    /// A job of `d` in `state` (queued, training or evaluating).
    func job(_ d: Daemon, in state: JobState) throws -> Int64 {
        let id = try d.registry.enqueue(domain: "medical", strategy: "crma", totalSteps: 6, notBefore: 0)
        if state == .training || state == .evaluating { try d.registry.transition(job: id, .start) }
        if state == .evaluating { try d.registry.transition(job: id, .trained) }
        return id
    }

    @Test func cancellingAnEvaluatingJobIsRefusedAndLeavesNoPendingCancel() throws {
        let d = try daemon()
        let id = try job(d, in: .evaluating)
        let error = #expect(throws: JobControlError.self) { try d.cancel(job: id) }
        #expect(
            error?.description
                == "job \(id) is evaluating; it concludes in a moment — roll back its version afterwards if needed")
        #expect(try d.registry.job(id)?.state == .evaluating)
        #expect(!d.runner.cancelRequestedAndClear(id))
    }

    @Test func aCancelAcceptedAsTrainingEndsCancelsTheJobInsteadOfEvaluatingIt() throws {
        // The cancel arrives after the last step's boundary, while the candidate is being saved.
        let d = try daemon()
        let id = try job(d, in: .training)
        #expect(try d.cancel(job: id) == .training)
        #expect(try d.runner.finishTraining(job: id).state == .cancelled)
        #expect(try d.registry.job(id)?.state == .cancelled)
    }

    @Test func withoutACancelTrainingEndsInEvaluation() throws {
        let d = try daemon()
        let id = try job(d, in: .training)
        #expect(try d.runner.finishTraining(job: id) == .init(state: .evaluating, actions: [.evaluate]))
        #expect(try d.registry.job(id)?.state == .evaluating)
    }

    @Test func cancellingAQueuedJobCancelsItAtOnce() throws {
        let d = try daemon()
        let id = try job(d, in: .queued)
        #expect(try d.cancel(job: id) == .cancelled)
        #expect(try d.registry.job(id)?.state == .cancelled)
    }
}
