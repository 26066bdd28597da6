import ArgumentParser
import CRMAAdapters
import CRMAModel
import CRMANumerics
import CRMATraining
import Foundation

/// What learning without forgetting costs over plain fine-tuning: time per step and peak memory with
/// the teacher live (a second forward pass per step) or cached on disk (computed ahead, read per step).
struct DistillCostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill-cost",
        abstract: "Measure lwf's extra time and memory: plain LoRA training vs a live vs a cached teacher.",
        discussion: """
            Each mode runs in its own process (this command starts itself with --mode), so peak RSS is that \
            mode's alone. All three train the same LoRA (r 8 on q, k, v, o) on the same packed rows of real text; \
            the teacher is the base model with a different LoRA, as after an earlier domain. Reported per mode: \
            median seconds per optimizer step, peak resident memory, and for the cached teacher the seconds per \
            batch spent computing it ahead and the bytes it keeps on disk per batch.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Text to train on.")
    var text = "/usr/share/common-licenses/GPL-3"

    @Option(help: "Sequence length.")
    var seqLen = 256

    @Option(help: "Sequences per optimizer step.")
    var batch = 2

    @Option(help: "Optimizer steps measured per mode (after one warm-up step).")
    var steps = 6

    @Option(help: "Run one mode in this process: plain, live, prefill or cached (used by the parent run).")
    var mode: String?

    @Option(help: "Teacher cache directory for --mode prefill and cached (used by the parent run).")
    var cache: String?

    func run() throws {
        guard let mode else { return try compare() }
        let result = try measure(mode)
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    /// Runs each mode as a child process and prints the comparison.
    private func compare() throws {
        var results: [String: [String: Double]] = [:]
        let cacheRoot = NSTemporaryDirectory() + "crma-distill-cost-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: cacheRoot) }
        // The cached teacher is computed ahead in its own process, so the cached run's peak memory is
        // training's alone.
        for m in ["plain", "live", "prefill", "cached"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            p.arguments =
                ["distill-cost", "--mode", m, "--text", text, "--seq-len", "\(seqLen)", "--batch", "\(batch)"]
                + ["--steps", "\(steps)", "--model", common.model, "--threads", "\(common.threads)", "--cache", cacheRoot]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0,
                let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
                let r = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double]
            else { throw ValidationError("the \(m) run failed (exit \(p.terminationStatus))") }
            results[m] = r
            FileHandle.standardError.write(Data("\(m): \(r)\n".utf8))
        }
        let prefill = results.removeValue(forKey: "prefill")!
        results["cached"]!.merge(prefill.filter { $0.key != "peak_rss_bytes" && $0.key != "seconds_per_step" }) { a, _ in a }
        results["cached"]!["prefill_peak_rss_bytes"] = prefill["peak_rss_bytes"]
        let plain = results["plain"]!
        var rows: [String: Any] = [:]
        for (m, r) in results {
            rows[m] = r.merging([
                "time_vs_plain": r["seconds_per_step"]! / plain["seconds_per_step"]!,
                "memory_vs_plain": r["peak_rss_bytes"]! / plain["peak_rss_bytes"]!,
                "extra_memory_bytes": r["peak_rss_bytes"]! - plain["peak_rss_bytes"]!,
            ]) { a, _ in a }
        }
        if common.json {
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("mode     s/step  vs plain  peak RSS (MB)  vs plain  computed ahead (s/batch)  disk (MB/batch)")
        for m in ["plain", "live", "cached"] {
            let r = rows[m] as! [String: Double]
            print(
                String(
                    format: "%@  %6.3f  %7.2f×  %13.0f  %7.2f×  %24.3f  %15.2f", m.padding(toLength: 7, withPad: " ", startingAt: 0),
                    r["seconds_per_step"]!,
                    r["time_vs_plain"]!, r["peak_rss_bytes"]! / 1e6, r["memory_vs_plain"]!,
                    r["prefill_seconds_per_batch"] ?? 0, (r["disk_bytes_per_batch"] ?? 0) / 1e6))
        }
    }

    private func measure(_ mode: String) throws -> [String: Double] {
        guard ["plain", "live", "prefill", "cached"].contains(mode) else {
            throw ValidationError("--mode must be plain, live, prefill or cached")
        }
        let lm = try common.load()
        guard let data = FileManager.default.contents(atPath: text) else { throw ValidationError("cannot read \(text)") }
        let doc = TokenizedDocument(tokens: lm.tokenizer.encode(String(decoding: data, as: UTF8.self)))
        let rows = SequencePacker(seqLen: seqLen, padToken: lm.tokenizer.eosID ?? 0).pack([doc])
        guard rows.count >= batch else { throw ValidationError("\(text) gives \(rows.count) rows; need \(batch)") }
        let c = lm.model.config
        let student = LoRA(name: "shared", config: LoRAConfig(), model: c, seed: 1)
        let trainer = Trainer(
            model: lm.model, adapters: AdapterSet(loras: [student]), config: OptimizerConfig(), totalSteps: 1000)
        var sampler = BatchSampler(rows: rows, batchSize: batch, seed: 1)
        let batches = (0...steps).map { _ in SequencePacker.batch(sampler.next()) }
        // The teacher: the base with an earlier domain's LoRA (a different seed, B moved off zero).
        let earlier = LoRA(name: "shared", config: LoRAConfig(), model: c, seed: 2, trainable: false)
        for p in earlier.parameters where p.name.hasSuffix("lora_B") {
            for i in 0..<p.count { p.value[i] = 1e-3 * Float(i % 13) - 6e-3 }
        }
        let teacherAdapters = AdapterSet(loras: [earlier])
        var result: [String: Double] = [:]
        let cacheRoot = cache ?? NSTemporaryDirectory() + "crma-distill-cost-\(getpid())"
        var cachedTeacher: CachedTeacher?
        switch mode {
        case "live":
            trainer.distillation = Distillation(teacher: LiveTeacher(model: lm.model, adapters: teacherAdapters))
        case "prefill":
            let cached = try CachedTeacher(root: cacheRoot, model: lm.model, adapters: teacherAdapters)
            let t0 = Measure.now()
            try cached.prefill(batches)
            result["prefill_seconds_per_batch"] = (Measure.now() - t0) / Double(batches.count)
            result["disk_bytes_per_batch"] = Double(cached.bytesOnDisk) / Double(batches.count)
            result["peak_rss_bytes"] = Double(Measure.peakRSSBytes())
            return result
        case "cached":
            let cached = try CachedTeacher(root: cacheRoot, model: lm.model, adapters: teacherAdapters)
            trainer.distillation = Distillation(teacher: cached)
            cachedTeacher = cached
        default:
            break
        }
        _ = try trainer.step([batches[0]])  // warm-up: allocates every buffer
        var times: [Double] = []
        for b in batches.dropFirst() {
            let t0 = Measure.now()
            _ = try trainer.step([b])
            times.append(Measure.now() - t0)
        }
        times.sort()
        result["seconds_per_step"] = times[times.count / 2]
        result["peak_rss_bytes"] = Double(Measure.peakRSSBytes())
        result["tokens_per_step"] = Double(batch * seqLen)
        if let cachedTeacher { result["teacher_forwards_during_training"] = Double(cachedTeacher.misses) }
        return result
    }
}
