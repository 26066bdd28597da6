import ArgumentParser
import CRMAModel
import CRMANumerics
import Foundation

/// Wall-clock and resource measurements for benchmarks.
enum Measure {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Peak resident set size of this process so far, in bytes.
    static func peakRSSBytes() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss * 1024
    }

    /// CPU seconds used by this process (user + system).
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6 + Double(u.ru_stime.tv_sec)
            + Double(u.ru_stime.tv_usec) * 1e-6
    }

    /// Busy CPU seconds of the whole machine (from /proc/stat), to tell how much other processes took.
    static func machineBusySeconds() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = s.split(separator: "\n").first
        else { return 0 }
        let f = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard f.count >= 5 else { return 0 }
        let idle = f[3] + f[4]
        return (f.reduce(0, +) - idle) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Runs `body` repeatedly for at least `minSeconds` (and `minRuns`), returning seconds per run (the median).
    static func time(minRuns: Int = 3, minSeconds: Double = 1, _ body: () -> Void) -> Double {
        body()  // warm-up
        var samples: [Double] = []
        let start = now()
        while samples.count < minRuns || now() - start < minSeconds {
            let t0 = now()
            body()
            samples.append(now() - t0)
        }
        samples.sort()
        return samples[samples.count / 2]
    }
}

/// The GEMM ceiling of a forward (and, for training, backward) pass: exactly the projection and
/// output-head GEMMs that the model performs for `rows` tokens, on the model's own weights and base
/// (sgemm for fp32, oneDNN's bf16 matmul for bf16, dequantized panels and sgemm for quantized), with
/// nothing else in between.
///
/// `streamed`: activations come from a rotating pool of buffers larger than the caches, as in the model,
/// where every GEMM reads activations another step wrote. Otherwise one input buffer is reused by every
/// GEMM and stays cache-resident, which is faster than any real forward pass can be.
struct GemmCeiling {
    let model: LlamaModel
    let rows: Int
    let backward: Bool
    let streamed: Bool
    /// Rotating (input, output) buffer pairs; one pair when not streamed.
    let pool: [(FloatBuffer, FloatBuffer)]
    /// FLOPs of one `run()`.
    let flops: Double

    init(model: LlamaModel, rows: Int, backward: Bool = false, streamed: Bool) {
        let c = model.config
        self.model = model
        self.rows = rows
        self.backward = backward
        self.streamed = streamed
        let width = max(c.hiddenSize, 2 * c.ffnSize, c.qkvSize)
        // 96 MB of activations cycle through the caches (L3 here is far smaller).
        let pairs = streamed ? max(2, (96 << 20) / (8 * rows * width)) : 1
        pool = (0..<pairs).map { _ in
            let x = FloatBuffer(count: rows * width), y = FloatBuffer(count: rows * width)
            for i in 0..<x.count { x[i] = Float(i % 97) * 0.01 }
            return (x, y)
        }
        flops = (backward ? 4 : 2) * Double(rows) * Double(c.matmulWeights)
    }

    func run() {
        let c = model.config
        var k = 0
        func next() -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
            let p = pool[k % pool.count]
            k += 1
            return (p.0.pointer, p.1.pointer)
        }
        // Through the model's own GEMM dispatch: the ceiling is on the model's base.
        for l in 0..<c.layers {
            for p in [FrozenProjection.qkv, .wo, .gateUp, .down] {
                let (x, y) = next()
                model.project(p, layer: l, x, rows: rows, into: y)
            }
            if backward {
                for p in [FrozenProjection.down, .gateUp, .wo, .qkv] {
                    let (x, y) = next()
                    model.projectInputGradient(p, layer: l, x, rows: rows, into: y)
                }
            }
        }
        // The head in the scorer's chunks, into one reused chunk-sized buffer.
        let head = FloatBuffer(count: min(rows, Scorer.headChunkRows) * c.vocabSize)
        var r0 = 0
        while r0 < rows {
            let n = min(Scorer.headChunkRows, rows - r0)
            let (x, y) = next()
            model.logits(hidden: x, rows: n, into: head.pointer)
            if backward { model.headInputGradient(head.pointer, rows: n, into: y) }
            r0 += n
        }
    }
}

/// Alternates runs of two workloads so that machine noise (a busy neighbour, frequency changes) hits
/// both alike; returns the seconds of each run of each, in the order timed (warm-up runs not included).
func interleavedTimes(minRuns: Int, minSeconds: Double, warmUp: Bool = true, _ a: () -> Void, _ b: () -> Void) -> (
    a: [Double], b: [Double]
) {
    if warmUp { a() }
    b()  // warm-up
    var ta: [Double] = [], tb: [Double] = []
    let start = Measure.now()
    while ta.count < minRuns || Measure.now() - start < minSeconds {
        var t0 = Measure.now()
        a()
        ta.append(Measure.now() - t0)
        t0 = Measure.now()
        b()
        tb.append(Measure.now() - t0)
    }
    return (ta, tb)
}

/// ``interleavedTimes(minRuns:minSeconds:warmUp:_:_:)``'s median seconds of each workload.
func interleavedMedians(minRuns: Int, minSeconds: Double, warmUp: Bool = true, _ a: () -> Void, _ b: () -> Void) -> (
    Double, Double
) {
    let (ta, tb) = interleavedTimes(minRuns: minRuns, minSeconds: minSeconds, warmUp: warmUp, a, b)
    return (median(ta), median(tb))
}

/// The middle value (the upper one of an even count).
func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// The bases (``Precision``) a throughput command measures side by side: `--bases` if given, else
/// quantized, bf16 where the CPU has AVX512-BF16, and fp32. They are measured one model at a time in
/// that order, smallest first: peak RSS only grows, so each row's figure is its own.
enum BaseRuns {
    static let memoryOrder: [Precision] = [.quantized, .bf16, .fp32]

    static func bases(_ option: String?) throws -> [Precision] {
        let names =
            option.map { $0.split(separator: ",").map(String.init) }
            ?? (BF16.available ? ["quantized", "bf16", "fp32"] : ["quantized", "fp32"])
        let bases = try names.map { try Precision.parse($0).precision }
        guard !bases.isEmpty else { throw ValidationError("--bases needs at least one of quantized, bf16, fp32") }
        return memoryOrder.filter(bases.contains)
    }

    /// Rows in report order: fp32 first (its keys are the ones from before the other bases), then the others.
    static func reportOrder(_ rows: [[String: Any]]) -> [[String: Any]] {
        rows.filter { $0["base"] as? String == "fp32" } + rows.filter { $0["base"] as? String != "fp32" }
    }

    /// The pairs compared by ``interleavedSpeedup(seconds:reference:other:)``: each measured base against
    /// each measured reference before it in [fp32, bf16] (bf16 vs fp32; quantized vs fp32 and vs bf16).
    static func pairs(_ measured: [Precision]) -> [(base: Precision, reference: Precision)] {
        let order = Array(memoryOrder.reversed())
        return order.enumerated().flatMap { i, base in
            order[..<i].filter { measured.contains($0) && measured.contains(base) }.map { (base, $0) }
        }
    }

    /// `other` tokens/s ÷ `reference` tokens/s: one unit of work (a scored sequence, a training step) of
    /// each timed back to back, for at least `seconds`; the speedup is the median of the pairs' own
    /// ratios, so a change in the machine's speed during the run (a noisy neighbour, frequency) moves both
    /// halves of a pair alike and cancels. Runs of two bases measured one after the other differed by up to
    /// 10% on this ratio here; the ratio of the two bases' separate medians (reported too) pairs a fast
    /// unit of one with a slow unit of the other and, with five training pairs, once read 1.52 where every
    /// pair but one read 1.59–1.64.
    static func interleavedSpeedup(seconds: Double, reference: () -> Void, other: () -> Void) -> (
        speedup: Double, ratioOfMedians: Double, pairRatios: [Double]
    ) {
        let (tr, to) = interleavedTimes(minRuns: 5, minSeconds: seconds, reference, other)
        let ratios = zip(tr, to).map { $0 / $1 }
        return (median(ratios), median(tr) / median(to), ratios)
    }

    /// The keys of one pair's speedup in a row: `speedup_vs_<reference>` and its details.
    static func speedupKeys(
        reference: Precision, _ result: (speedup: Double, ratioOfMedians: Double, pairRatios: [Double])
    ) -> [String: Any] {
        let key = "speedup_vs_\(reference.rawValue)"
        return [
            key: result.speedup, "\(key)_pairs": result.pairRatios.count, "\(key)_pair_ratios": result.pairRatios,
            "\(key)_ratio_of_medians": result.ratioOfMedians,
        ]
    }

    static let speedupDefinition =
        "speedup_vs_<base>: this row's tokens/s / that base's tokens/s, the median over pairs of one unit of each timed back to back (after the per-base rows), so drift in the machine's speed moves both halves of a pair alike"

    /// The name of the ceiling's keys: `sgemm` for fp32 (as before the other bases existed), `bf16_gemm`
    /// for bf16, `quantized_gemm` (dequantized panels + sgemm) for quantized.
    static func ceilingName(_ p: Precision) -> String {
        switch p {
        case .fp32: "sgemm"
        case .bf16: "bf16_gemm"
        case .quantized: "quantized_gemm"
        }
    }
}
