import ArgumentParser
import CRMAAdapters
import CRMAModel
import CRMANumerics
import CRMATraining
import Foundation

/// Training throughput: LoRA + CRMA on the real model, against the sgemm ceiling of the same GEMMs.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Measure training throughput (LoRA + CRMA): tokens/s, GFLOP/s, efficiency, peak RSS, time per phase.",
        discussion: """
            Trains on packed rows of real English text (Debian's GPL-3 text, or --text) with LoRA on the chosen \
            projections plus the CRMA substrate, one optimizer step per batch. Training FLOPs per token are \
            counted as 2 × the forward count (forward + input gradients through the frozen base) plus the \
            adapters' weight-gradient FLOPs. The sgemm ceiling is the same forward and input-gradient GEMMs on \
            the model's own weights, run alone and interleaved with the training steps.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Text to train on.")
    var text = "/usr/share/common-licenses/GPL-3"

    @Option(help: "Sequence length.")
    var seqLen = 256

    @Option(help: "Sequences per optimizer step.")
    var batch = 4

    @Option(help: "LoRA rank.")
    var rank = 8

    @Option(help: "LoRA targets, comma-separated (q,k,v,o,gate,up,down).")
    var targets = "q,k,v,o"

    @Flag(help: "Train without the CRMA substrate.")
    var noCrma = false

    @Option(help: "Seconds to measure for (at least).")
    var seconds = 20.0

    /// ``LlamaTrainingPass/keepsGateUp``, or the pass's default.
    enum KeepGateUp: String, ExpressibleByArgument, CaseIterable {
        case auto, yes, no
    }

    @Option(
        help: ArgumentHelp(
            "Keep each layer's gate|up pre-activations for the backward pass: auto (yes, except on a quantized base), yes, or no (the backward pass runs the gate|up GEMM again, reported as the phase backward.recompute)."))
    var keepGateUp = KeepGateUp.auto

    @Option(
        name: [.customLong("bases"), .customLong("precisions")],
        help: "Bases measured side by side, comma-separated (default: quantized, bf16 where the CPU has AVX512-BF16, fp32).")
    var bases: String?

    func run() throws {
        var rows: [[String: Any]] = []
        let measured = try BaseRuns.bases(bases)
        for base in measured {
            rows.append(try measure(try common.load(base: base)).merging(["base": base.rawValue]) { a, _ in a })
        }
        rows = BaseRuns.reportOrder(rows)
        // Each pair of bases: both models again (each row's peak RSS above is its own), one step of each
        // timed alternately (after one warm-up step of each, which interleavedTimes takes).
        for (base, reference) in BaseRuns.pairs(measured) {
            let r = try session(try common.load(base: reference)), o = try session(try common.load(base: base))
            let result = BaseRuns.interleavedSpeedup(seconds: seconds) {
                _ = try? r.step()
            } other: {
                _ = try? o.step()
            }
            for i in rows.indices where rows[i]["base"] as? String == base.rawValue {
                rows[i].merge(BaseRuns.speedupKeys(reference: reference, result)) { _, b in b }
            }
        }
        // The first base's figures stay at the top level (the keys from before the other bases), every row
        // in results.
        var report = rows[0]
        report["results"] = rows
        if !BaseRuns.pairs(measured).isEmpty { report["speedup_definition"] = BaseRuns.speedupDefinition }
        report["peak_rss_definition"] =
            "the process's peak after the first step, before the ceilings' buffers; bases are measured smallest first (the peak only grows), so each row's is its own"
        Output.print(report, json: common.json)
    }

    /// LoRA (+ CRMA) training on the packed text, ready to step.
    final class Session {
        let trainer: Trainer
        var sampler: BatchSampler
        let projections: [Projection]

        init(trainer: Trainer, sampler: BatchSampler, projections: [Projection]) {
            self.trainer = trainer
            self.sampler = sampler
            self.projections = projections
        }

        func step() throws -> StepReport { try trainer.step([SequencePacker.batch(sampler.next())]) }
    }

    func session(_ lm: LanguageModel) throws -> Session {
        let c = lm.model.config
        guard let data = FileManager.default.contents(atPath: text) else {
            throw ValidationError("cannot read \(text)")
        }
        let doc = TokenizedDocument(tokens: lm.tokenizer.encode(String(decoding: data, as: UTF8.self)))
        let rows = SequencePacker(seqLen: seqLen, padToken: lm.tokenizer.eosID ?? 0).pack([doc])
        guard rows.count >= batch else {
            throw ValidationError("\(text) gives \(rows.count) rows; need at least \(batch)")
        }
        let projections = try targets.split(separator: ",").map { name -> Projection in
            guard let p = Projection(rawValue: String(name)) else { throw ValidationError("unknown target \(name)") }
            return p
        }
        let loraConfig = LoRAConfig(rank: rank, alpha: Float(2 * rank), targets: projections)
        let lora = LoRA(name: "bench", config: loraConfig, model: c, seed: 1)
        let crma = noCrma ? nil : CRMA(config: CRMAConfig(), model: lm.model, seed: 1)
        let trainer = Trainer(
            model: lm.model, adapters: AdapterSet(loras: [lora], crma: crma), config: OptimizerConfig(),
            totalSteps: 1000)
        switch keepGateUp {
        case .auto: break
        case .yes: trainer.pass.keepsGateUp = true
        case .no: trainer.pass.keepsGateUp = false
        }
        return Session(
            trainer: trainer, sampler: BatchSampler(rows: rows, batchSize: batch, seed: 1), projections: projections)
    }

    /// One model's (one base's) training throughput.
    func measure(_ lm: LanguageModel) throws -> [String: Any] {
        let c = lm.model.config
        let name = BaseRuns.ceilingName(lm.model.precision)
        let training = try session(lm)
        let trainer = training.trainer, projections = training.projections, crma = trainer.adapters.crma
        let n = batch * seqLen

        // One warm-up step allocates and touches every buffer; it is not measured.
        _ = try training.step()
        // Training's buffers are all allocated by its first step (the quantized base's panels come and go,
        // the same size every step): this is its peak, before the ceilings' buffers.
        let trainingPeakRSS = Measure.peakRSSBytes()
        let ceiling = GemmCeiling(model: lm.model, rows: n, backward: true, streamed: true)
        let cachedCeiling = GemmCeiling(model: lm.model, rows: n, backward: true, streamed: false)
        let clock = PhaseClock()
        var losses: [Double] = []
        var stepTotal = 0.0
        let (stepSeconds, ceilingSeconds) = interleavedMedians(minRuns: 3, minSeconds: seconds, warmUp: false) {
            trainer.clock = clock
            let t0 = Measure.now()
            let r = try? training.step()
            stepTotal += Measure.now() - t0
            trainer.clock = nil
            losses.append(r?.loss ?? .nan)
        } _: {
            ceiling.run()
        }
        let steps = Double(losses.count)
        let meanContext = Double(seqLen + 1) / 2
        let forwardFlops = 2 * Double(c.matmulWeights) + 4 * Double(c.layers * c.hiddenSize) * meanContext
        var adapterFlops = 0.0
        for p in projections {
            let (i, o) = LoRA.shape(p, c)
            adapterFlops += 2 * Double(rank * (i + o))
        }
        if crma != nil { adapterFlops += 2 * 2 * Double(CRMAConfig().streams * c.hiddenSize) }
        adapterFlops *= Double(c.layers)
        let flopsPerToken = 2 * forwardFlops + adapterFlops
        let tps = Double(n) / stepSeconds
        let gflops = tps * flopsPerToken / 1e9
        let peak = ceiling.flops / ceilingSeconds / 1e9
        let cachedPeak = cachedCeiling.flops / Measure.time(minRuns: 3, minSeconds: 3) { cachedCeiling.run() } / 1e9
        func sum(_ prefix: String) -> Double {
            clock.seconds.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +) / steps
        }
        var phases: [String: Double] = [
            "forward": sum("forward."), "head": sum("head"), "backward": sum("backward."),
            "optimizer": sum("optimizer"),
        ]
        phases["other"] = max(0, stepTotal / steps - phases.values.reduce(0, +))
        let detail = clock.seconds.mapValues { $0 / steps }
        return
            [
                "model": common.model, "seq_len": seqLen, "sequences_per_step": batch, "lora_rank": rank,
                "lora_targets": targets,
                "crma": crma != nil, "threads": common.threads, "steps_measured": losses.count,
                "keeps_gate_up": trainer.pass.keepsGateUp,
                "tokens_per_second": tps, "model_gflops_per_second": gflops, "\(name)_peak_gflops_per_second": peak,
                "efficiency": gflops / peak,
                "\(name)_cached_peak_gflops_per_second": cachedPeak, "efficiency_vs_cached_peak": gflops / cachedPeak,
                "sgemm_peak_definition":
                    "the step's projection and head GEMMs (forward and input-gradient) on the model's own weights, alone, activations streamed from memory; the cached peak reuses one cache-resident input",
                "flops_per_token": flopsPerToken, "seconds_per_step": stepSeconds,
                "phase_seconds_per_step": phases, "phase_detail_seconds_per_step": detail,
                "peak_rss_bytes": trainingPeakRSS,
                "first_loss": losses.first ?? .nan, "last_loss": losses.last ?? .nan,
                "flops_definition":
                    "2 x forward (2 x matmul weights incl. head + 4 x layers x hidden x mean context) + adapter weight-gradient FLOPs",
            ]
    }
}
