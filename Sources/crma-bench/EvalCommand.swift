import ArgumentParser
import CRMAModel
import CRMANumerics
import Foundation

/// Forward-pass (scoring) throughput of a model against the sgemm ceiling measured in the same run.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure scoring throughput (tokens/s, GFLOP/s, efficiency vs. sgemm peak, peak RSS).",
        discussion: """
            Scores sequences of real text (the model's own chat template and a built-in paragraph, repeated) at
            each sequence length: forward pass, output head and log-softmax of every position.
            FLOPs per token are counted as 2 × (weights of every matrix multiply, output head included)
            + 4 × layers × hidden size × mean attended context. The sgemm peak is measured in the same run
            at the model's GEMM shapes; efficiency = model GFLOP/s ÷ sgemm peak.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Comma-separated sequence lengths.")
    var seqLens = "256,512"

    @Option(help: "Seconds to measure each length for (at least).")
    var seconds = 5.0

    @Option(
        name: [.customLong("bases"), .customLong("precisions")],
        help: "Bases measured side by side, comma-separated (default: quantized, bf16 where the CPU has AVX512-BF16, fp32).")
    var bases: String?

    func run() throws {
        var results: [[String: Any]] = []
        var scoringPeakRSS = 0
        let measured = try BaseRuns.bases(bases)
        for base in measured {
            let (rows, rss) = try measure(try common.load(base: base))
            results += rows.map { $0.merging(["base": base.rawValue, "peak_rss_bytes": rss]) { a, _ in a } }
            scoringPeakRSS = max(scoringPeakRSS, rss)
        }
        results = BaseRuns.reportOrder(results)
        // Each pair of bases timed alternately at each length (both models loaded again: each row's peak
        // RSS above is its own).
        for (base, reference) in BaseRuns.pairs(measured) {
            let r = try common.load(base: reference), o = try common.load(base: base)
            let text = lengthsText(r)
            let referenceScorer = Scorer(r), otherScorer = Scorer(o)
            for i in results.indices where results[i]["base"] as? String == base.rawValue {
                let T = results[i]["seq_len"] as! Int
                let input = Array(text[0..<T]), targets = Array(text[1...T])
                let result = BaseRuns.interleavedSpeedup(seconds: seconds) {
                    _ = referenceScorer.logProbabilities(input: input, targets: targets, offset: 0)
                } other: {
                    _ = otherScorer.logProbabilities(input: input, targets: targets, offset: 0)
                }
                results[i].merge(BaseRuns.speedupKeys(reference: reference, result)) { _, b in b }
            }
        }
        let report: [String: Any] = [
            "speedup_definition": BaseRuns.speedupDefinition,
            "model": common.model, "threads": common.threads, "blas_core": BLAS.coreName, "results": results,
            "peak_rss_bytes": scoringPeakRSS,
            "peak_rss_definition":
                "the process's peak after scoring at every length, before the ceilings' buffers (top level: the largest; per row: that base's, measured smallest first since the peak only grows)",
            "sgemm_peak_definition":
                "the forward's projection and head GEMMs on the model's own weights, alone, activations streamed from memory, through the row's base (bf16 rows: bf16_gemm_peak_gflops_per_second; quantized rows: quantized_gemm_…, the panels' dequantization included); the cached peak reuses one cache-resident input",
            "flops_definition":
                "2 x (weights of every matrix multiply, output head included) + 4 x layers x hidden x mean attended context",
        ]
        Output.print(report, json: common.json)
    }

    /// Result rows of one model (one base) at every length, and the peak RSS after scoring.
    func measure(_ lm: LanguageModel) throws -> ([[String: Any]], Int) {
        let scorer = Scorer(lm)
        let c = lm.model.config
        let name = BaseRuns.ceilingName(lm.model.precision)
        let ids = lengthsText(lm)
        var results: [[String: Any]] = []
        // Scoring's buffers are all allocated by its first call at a length (the quantized base's panels
        // come and go, the same size every call): take its peak before the ceilings'.
        let lengths = seqLens.split(separator: ",").compactMap { Int($0) }
        let longest = min(ids.count - 1, c.contextLength)
        guard !lengths.isEmpty, lengths.allSatisfy({ (2...longest).contains($0) }) else {
            throw ValidationError(
                "--seq-lens takes lengths from 2 to \(longest) (the built-in text and the model's context)")
        }
        for T in lengths {
            _ = scorer.logProbabilities(input: Array(ids[0..<T]), targets: Array(ids[1...T]), offset: 0)
        }
        let scoringPeakRSS = Measure.peakRSSBytes()
        for T in lengths {
            let input = Array(ids[0..<T]), targets = Array(ids[1...T])
            let ceiling = GemmCeiling(model: lm.model, rows: T, streamed: true)
            let cachedCeiling = GemmCeiling(model: lm.model, rows: T, streamed: false)
            let busy0 = Measure.machineBusySeconds(), cpu0 = Measure.cpuSeconds(), t0 = Measure.now()
            let (perRun, ceilingRun) = interleavedMedians(minRuns: 3, minSeconds: seconds) {
                _ = scorer.logProbabilities(input: input, targets: targets, offset: 0)
            } _: {
                ceiling.run()
            }
            let wall = Measure.now() - t0
            let others = max(0, (Measure.machineBusySeconds() - busy0) - (Measure.cpuSeconds() - cpu0)) / wall
            let clock = PhaseClock()
            scorer.clock = clock
            _ = scorer.logProbabilities(input: input, targets: targets, offset: 0)
            scorer.clock = nil
            let meanContext = Double(T + 1) / 2
            let flopsPerToken = 2 * Double(c.matmulWeights) + 4 * Double(c.layers * c.hiddenSize) * meanContext
            let tps = Double(T) / perRun
            let gflops = tps * flopsPerToken / 1e9
            let peak = ceiling.flops / ceilingRun / 1e9
            let cachedPeak = cachedCeiling.flops / Measure.time(minRuns: 3, minSeconds: 2) { cachedCeiling.run() } / 1e9
            results.append([
                "seq_len": T, "tokens_per_second": tps, "model_gflops_per_second": gflops,
                "\(name)_peak_gflops_per_second": peak, "efficiency": gflops / peak,
                "\(name)_cached_peak_gflops_per_second": cachedPeak, "efficiency_vs_cached_peak": gflops / cachedPeak,
                "flops_per_token": flopsPerToken, "seconds_per_sequence": perRun,
                "other_processes_cpu_fraction": others,
                "phase_seconds": clock.seconds,
            ])
        }
        return (results, scoringPeakRSS)
    }
}

extension EvalCommand {
    /// The tokens every length scores: the built-in paragraph, repeated.
    func lengthsText(_ lm: LanguageModel) -> [Int32] {
        lm.tokenizer.encode(String(repeating: BenchText.paragraph, count: 40))
    }
}

enum Output {
    static func print(_ report: [String: Any], json: Bool) {
        if json {
            let data = try! JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            Swift.print(String(decoding: data, as: UTF8.self))
        } else {
            for (k, v) in report.sorted(by: { $0.key < $1.key }) {
                if let rows = v as? [[String: Any]] {
                    for r in rows {
                        Swift.print(
                            r.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\(format($0.value))" }.joined(
                                separator: "  "))
                    }
                } else {
                    Swift.print("\(k): \(format(v))")
                }
            }
        }
    }

    static func format(_ v: Any) -> String {
        if let d = v as? Double { return String(format: "%.4g", d) }
        return "\(v)"
    }
}

enum BenchText {
    /// Public-domain prose (the opening of the US Declaration of Independence) for throughput runs.
    static let paragraph = """
        When in the Course of human events, it becomes necessary for one people to dissolve the political bands \
        which have connected them with another, and to assume among the powers of the earth, the separate and equal \
        station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of \
        mankind requires that they should declare the causes which impel them to the separation.

        """
}
