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

/// The sgemm ceiling of a forward pass: exactly the projection and output-head GEMMs that scoring
/// `rows` tokens performs, on the model's own weight buffers (so weights stream from memory as they do
/// in the model), with nothing else in between. Scoring time over this time is the fraction of the
/// machine's GEMM capability the whole forward pass achieves.
struct GemmCeiling {
    let model: LlamaModel
    let rows: Int
    let input: FloatBuffer
    let output: FloatBuffer
    /// FLOPs of one `run()`.
    let flops: Double

    init(model: LlamaModel, rows: Int) {
        let c = model.config
        self.model = model
        self.rows = rows
        input = FloatBuffer(count: rows * max(c.hiddenSize, c.ffnSize, c.qSize))
        output = FloatBuffer(count: rows * max(c.qkvSize, 2 * c.ffnSize, c.hiddenSize))
        for i in 0..<input.count { input[i] = Float(i % 97) * 0.01 }
        flops = 2 * Double(rows) * Double(c.matmulWeights)
    }

    func run() {
        let c = model.config, x = input.pointer, y = output.pointer
        for w in model.weights.layers {
            BLAS.linear(x, rows: rows, inFeatures: c.hiddenSize, weight: w.qkv.pointer, outFeatures: c.qkvSize, into: y)
            BLAS.linear(x, rows: rows, inFeatures: c.qSize, weight: w.wo.pointer, outFeatures: c.hiddenSize, into: y)
            BLAS.linear(
                x, rows: rows, inFeatures: c.hiddenSize, weight: w.gateUp.pointer, outFeatures: 2 * c.ffnSize, into: y)
            BLAS.linear(
                x, rows: rows, inFeatures: c.ffnSize, weight: w.down.pointer, outFeatures: c.hiddenSize, into: y)
        }
        // The head in the scorer's chunks, into one reused chunk-sized buffer.
        let head = FloatBuffer(count: min(rows, Scorer.headChunkRows) * c.vocabSize)
        var r0 = 0
        while r0 < rows {
            let n = min(Scorer.headChunkRows, rows - r0)
            model.logits(hidden: x, rows: n, into: head.pointer)
            r0 += n
        }
    }
}

/// Alternates runs of two workloads so that machine noise (a busy neighbour, frequency changes) hits
/// both alike; returns the median seconds of each.
func interleavedMedians(minRuns: Int, minSeconds: Double, _ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
    a(); b()  // warm-up
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
    ta.sort(); tb.sort()
    return (ta[ta.count / 2], tb[tb.count / 2])
}
