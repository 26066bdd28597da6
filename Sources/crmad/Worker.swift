import ArgumentParser
import CRMAContinual
import CRMADaemon
import CRMAModel
import CRMANumerics
import Foundation
import Synchronization

/// `crmad worker DIR`: one update's heavy part on a compute node — what the slurm engine's batch job runs.
/// Reads the inputs crmad wrote into DIR, trains from the last checkpoint there, measures the candidate and
/// writes it back; crmad judges. SIGTERM (a cancel, a time limit, a preemption) checkpoints at the next
/// step boundary and exits 143.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one update from its job directory (what a Slurm job of crmad runs).",
        discussion: """
            DIR is a job directory crmad wrote under cluster.shared_dir: spec.json, job.json, the parent's \
            adapters, the general benchmarks. The worker loads the model named in spec.json (every node must \
            see it at that path), trains from DIR's last checkpoint, writes progress.jsonl, candidate.safetensors \
            and measurement.json, and exits. It never decides: crmad's gate does.

            Exit codes: 0 done, 1 error (the reason is on standard error), 143 stopped by SIGTERM after a checkpoint.
            """)

    @Argument(help: "The job directory crmad wrote.")
    var directory: String

    func run() throws {
        let dir = JobDirectory(directory)
        let terminate = TerminationFlag()
        do {
            let spec = try dir.readSpec()
            let threads =
                spec.blasThreads > 0
                ? spec.blasThreads : Int(ProcessInfo.processInfo.environment["SLURM_CPUS_PER_TASK"] ?? "") ?? 0
            if threads > 0 { BLAS.setThreads(threads) }
            let lm = try LanguageModel.load(path: spec.model, precision: try Precision.parse(spec.base).precision)
            let worker = try UpdateWorker(directory: dir, lm: lm)
            let started = Date().timeIntervalSince1970
            say("job \(spec.job) (\(spec.domain), \(spec.settings.strategy.rawValue)): \(worker.totalSteps) steps on \(ProcessInfo.processInfo.hostName)")
            let trained = try worker.train(started: started) { event in
                if case .started(let step, _) = event, step > 0 { say("resumed from the checkpoint at step \(step)") }
                return terminate.isSet ? .stop : .more
            }
            if case .stopped(let step) = trained {
                say("stopped by SIGTERM at step \(step); checkpointed")
                throw ExitCode(143)
            }
            let m = try worker.measure(started: started)
            say(String(format: "measured: %@ holdout %.4f (base %.4f)", spec.domain, m.newDomain.mean, m.newDomainBaseLoss))
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write(Data("crmad worker: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func say(_ line: String) {
        FileHandle.standardError.write(Data("crmad worker: \(line)\n".utf8))
    }
}

/// Set when SIGTERM arrives (Slurm's cancel, time limit or preemption); training stops at its next step.
struct TerminationFlag {
    init() {
        signal(SIGTERM) { _ in sigtermReceived.store(true, ordering: .relaxed) }
    }

    var isSet: Bool { sigtermReceived.load(ordering: .relaxed) }
}

/// Written by the SIGTERM handler (an atomic store is async-signal-safe).
private let sigtermReceived = Atomic<Bool>(false)
