import CBF16

/// The bf16 GEMM path (oneDNN's matmul with bf16 operands and fp32 accumulation) on CPUs with
/// AVX512-BF16: about twice the fp32 sgemm rate at this project's shapes (engineering-notes.md).
public enum BF16 {
    /// Whether this CPU can run it: AVX512F and AVX512-BF16 (cpuid), with ZMM state saved by the OS.
    public static var cpuSupported: Bool { crma_bf16_cpu_supported() != 0 }

    /// Whether this process may run oneDNN's run-time generated kernels (false under a W^X policy such as
    /// systemd's `MemoryDenyWriteExecute=yes`).
    public static var jitAllowed: Bool { crma_bf16_jit_allowed() != 0 }

    /// Whether the bf16 path can run here: the CPU has it and the kernels may be generated.
    public static var available: Bool { cpuSupported && jitAllowed }

    /// The instruction set oneDNN selected (e.g. "avx512_core_bf16").
    public static var instructionSet: String { String(cString: crma_bf16_isa_name()) }

    /// Sets the threads of oneDNN's OpenMP runtime (process-wide; ``BLAS/setThreads(_:)`` calls it).
    public static func setThreads(_ n: Int) { crma_bf16_set_threads(Int32(n)) }

    /// `value` rounded to bf16 (round to nearest even) and widened back: what a bf16 GEMM sees.
    public static func rounded(_ value: Float) -> Float {
        var b: UInt16 = 0
        var v = value, out: Float = 0
        crma_bf16_from_f32(&v, &b, 1)
        crma_bf16_to_f32(&b, &out, 1)
        return out
    }
}

/// A frozen weight matrix `W[rows × cols]` (row-major; a linear layer's `[out × in]`) held in bf16. One
/// copy serves the forward GEMM (`x · Wᵀ`) and the input-gradient GEMM (`dy · W`).
///
/// - Important: immutable after creation; `@unchecked Sendable` rests on that.
public final class BF16Matrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    let storage: UnsafeMutablePointer<UInt16>

    /// Rounds `values` (`rows × cols` floats) to bf16 (as ``BF16/rounded(_:)``, but subnormal values, below
    /// 1.2e-38, become zero: the vector instruction's rule).
    public init(_ values: UnsafePointer<Float>, rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        storage = .allocate(capacity: rows * cols)
        crma_bf16_from_f32(values, storage, Int64(rows * cols))
    }

    deinit { storage.deallocate() }

    /// Bytes held.
    public var byteCount: Int { rows * cols * 2 }

    /// Up to this many activation rows take the matrix-vector kernel (decoding) instead of oneDNN's matmul.
    public static let vectorRows = 4

    /// `y[m × rows] (+)= x[m × cols] · Wᵀ`.
    public func linear(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        if m <= Self.vectorRows {
            vectorLinear(x, rows: m, into: y, accumulate: accumulate)
            return
        }
        let status = crma_bf16_gemm_xwt(x, Int64(m), Int64(cols), storage, Int64(rows), y, accumulate ? 1 : 0)
        precondition(status == 0, "bf16 GEMM failed (oneDNN status \(status))")
    }

    /// ``linear(_:rows:into:accumulate:)`` for a few rows: x rounded to bf16 once, the weight rows split
    /// across the cores, each read from memory once.
    func vectorLinear(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let xb = UnsafeMutablePointer<UInt16>.allocate(capacity: m * cols)
        defer { xb.deallocate() }
        crma_bf16_from_f32(x, xb, Int64(m * cols))
        let (w, k, n) = (SendablePointer(storage), cols, rows)
        let (xs, ys) = (SendablePointer(xb), SendablePointer(y))
        Parallel.rows(n, minRows: 64) { range in
            crma_bf16_gemv_xwt(
                xs.p, Int64(m), Int64(k), w.p, Int64(range.lowerBound), Int64(range.upperBound), ys.p, Int64(n),
                accumulate ? 1 : 0)
        }
    }

    /// `y[m × cols] (+)= x[m × rows] · W` (the input gradient of ``linear(_:rows:into:accumulate:)``).
    public func inputGradient(
        _ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        let status = crma_bf16_gemm_xw(x, Int64(m), Int64(rows), storage, Int64(cols), y, accumulate ? 1 : 0)
        precondition(status == 0, "bf16 GEMM failed (oneDNN status \(status))")
    }

    /// Row `r` widened to floats (exact) into `out` (`cols` floats): an embedding lookup.
    public func widenRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows, "row \(r) out of range")
        crma_bf16_to_f32(storage + r * cols, out, Int64(cols))
    }

    /// The whole matrix widened to floats (exact): what the bf16 GEMMs multiply by.
    public func widened() -> FloatBuffer {
        let out = FloatBuffer(count: rows * cols)
        crma_bf16_to_f32(storage, out.pointer, Int64(rows * cols))
        return out
    }
}
