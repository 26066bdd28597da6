import Testing
@testable import CRMADaemon

/// How Slurm's states become job outcomes (issue 28, Faults), and how its commands' output is read.
@Suite struct SlurmMappingTests {
    @Test func everyStateSlurmReportsHasAMeaning() {
        for s in ["PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "REQUEUED"] {
            #expect(SlurmJobState(s) == .inFlight(s))
        }
        #expect(SlurmJobState("COMPLETED") == .completed)
        #expect(SlurmJobState("FAILED") == .failed("FAILED") && SlurmJobState("OUT_OF_MEMORY") == .failed("OUT_OF_MEMORY"))
        for s in ["TIMEOUT", "NODE_FAIL", "PREEMPTED"] { #expect(SlurmJobState(s) == .interrupted(s)) }
        // sacct adds who cancelled; squeue may mark a state with "+".
        #expect(SlurmJobState("CANCELLED by 0") == .cancelled && SlurmJobState("RUNNING+") == .inFlight("RUNNING"))
        #expect(SlurmJobState("") == nil && SlurmJobState("EXPLODED") == nil)
    }

    @Test func outcomesFollowTheIssuesTable() {
        func decide(_ s: String, requeues: Int = 0) -> ClusterDecision {
            ClusterDecision.decide(SlurmJobState(s)!, requeues: requeues, maxRequeues: 3, stderrTail: "crmad worker: boom")
        }
        #expect(decide("RUNNING") == .follow && decide("PENDING") == .follow)
        #expect(decide("COMPLETED") == .conclude)
        #expect(decide("CANCELLED") == .cancel)
        guard case .fail(let oom) = decide("OUT_OF_MEMORY") else { Issue.record("OOM must fail"); return }
        #expect(oom.contains("OUT_OF_MEMORY") && oom.contains("crmad worker: boom"))
        #expect(decide("NODE_FAIL") == .resubmit(reason: "the Slurm job ended NODE_FAIL; resubmission 1 of 3"))
        #expect(decide("TIMEOUT", requeues: 2) == .resubmit(reason: "the Slurm job ended TIMEOUT; resubmission 3 of 3"))
        guard case .fail(let spent) = decide("PREEMPTED", requeues: 3) else { Issue.record("requeues are bounded"); return }
        #expect(spent.contains("cluster.max_requeues = 3"))
        let silent = ClusterDecision.decide(.failed("FAILED"), requeues: 0, maxRequeues: 3, stderrTail: "")
        #expect(silent == .fail(reason: "the Slurm job ended FAILED: no output on standard error"))
    }

    @Test func commandOutputIsReadLineByLine() {
        #expect(SlurmClient.parse("RUNNING|vm\n") == SlurmClient.JobInfo(state: "RUNNING", node: "vm"))
        #expect(SlurmClient.parse("PENDING|\n") == SlurmClient.JobInfo(state: "PENDING", node: ""))
        // sacct -c lists a requeued job once per run: the last line is the current one.
        #expect(SlurmClient.parse("NODE_FAIL|vm\nCOMPLETED|vm\n")?.state == "COMPLETED")
        #expect(SlurmClient.parse("") == nil && SlurmClient.parse("\n\n") == nil)
        #expect(SlurmClient.quoted("/a b/it's") == "'/a b/it'\\''s'")
    }
}
