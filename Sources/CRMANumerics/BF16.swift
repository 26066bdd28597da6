import CBF16
import Glibc

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

/// A frozen weight matrix `W[rows × cols]` (a linear layer's `[out × in]`) held in bf16, in one of two
/// layouts (one copy at a time, never both):
/// - ``Layout/blocked`` (from creation): oneDNN's own blocks of `Wᵀ`, which its matmul reads as they are
///   (the row-major layout is copied into them inside every call: about 7% of a scoring GEMM). Serves the
///   forward GEMM, decoding and row lookups.
/// - ``Layout/rowMajor``: what the input-gradient GEMM (`dy · W`) needs, and the forward GEMM reads too
///   (as `Wᵀ` by strides). The first ``inputGradient(_:rows:into:accumulate:)`` converts the matrix to it
///   for good: a model that trains holds the one layout both of training's GEMMs read.
///
/// Both layouts give the forward GEMM bit-identical results (oneDNN runs the same kernel on the same
/// blocks); decoding's matrix-vector kernels sum in a different order per layout.
///
/// - Important: the values never change; the layout changes once, under a lock that every reader holds
///   while it reads (so concurrent use is safe), which `@unchecked Sendable` rests on.
public final class BF16Matrix: @unchecked Sendable {
    /// How the values are laid out in memory.
    public enum Layout: Sendable {
        /// oneDNN's `BA16a64b2a` blocks of `Wᵀ` (rows padded to 64, columns to 32).
        case blocked
        /// `W` row after row.
        case rowMajor
    }

    public let rows: Int
    public let cols: Int
    private var storage: UnsafeMutablePointer<UInt16>
    private var heldLayout: Layout
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    /// Rounds `values` (`rows × cols` floats, row-major) to bf16 (as ``BF16/rounded(_:)``, but subnormal
    /// values, below 1.2e-38, become zero: the vector instruction's rule), held in `layout`.
    public init(_ values: UnsafePointer<Float>, rows: Int, cols: Int, layout: Layout = .blocked) {
        self.rows = rows
        self.cols = cols
        let plain = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * cols)
        crma_bf16_from_f32(values, plain, Int64(rows * cols))
        heldLayout = layout
        switch layout {
        case .rowMajor:
            storage = plain
        case .blocked:
            storage = .allocate(capacity: Int(crma_bf16_blocked_count(Int64(rows), Int64(cols))))
            crma_bf16_pack_blocked(plain, Int64(rows), Int64(cols), storage)
            plain.deallocate()
        }
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        storage.deallocate()
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// The layout held now.
    public var layout: Layout { reading { _, layout in layout } }

    /// Bytes held.
    public var byteCount: Int {
        reading { _, layout in
            2 * (layout == .blocked ? Int(crma_bf16_blocked_count(Int64(rows), Int64(cols))) : rows * cols)
        }
    }

    /// `body` with the storage and its layout, which stay as they are until it returns.
    private func reading<R>(_ body: (UnsafeMutablePointer<UInt16>, Layout) -> R) -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return body(storage, heldLayout)
    }

    /// Converts the matrix to ``Layout/rowMajor`` unless it is already.
    private func makeRowMajor() {
        if layout == .rowMajor { return }
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        guard heldLayout == .blocked else { return }
        let plain = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * cols)
        crma_bf16_unpack_blocked(storage, Int64(rows), Int64(cols), plain)
        storage.deallocate()
        storage = plain
        heldLayout = .rowMajor
    }

    /// Up to this many activation rows take the matrix-vector kernel (decoding) instead of oneDNN's matmul.
    public static let vectorRows = 4

    /// `y[m × rows] (+)= x[m × cols] · Wᵀ`.
    public func linear(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        reading { w, layout in
            if m <= Self.vectorRows {
                vectorLinear(x, rows: m, weights: w, layout: layout, into: y, accumulate: accumulate)
                return
            }
            let (mm, k, n, add) = (Int64(m), Int64(cols), Int64(rows), Int32(accumulate ? 1 : 0))
            let status =
                layout == .blocked
                ? crma_bf16_gemm_xwt_blocked(x, mm, k, w, n, y, add) : crma_bf16_gemm_xwt(x, mm, k, w, n, y, add)
            precondition(status == 0, "bf16 GEMM failed (oneDNN status \(status))")
        }
    }

    /// ``linear(_:rows:into:accumulate:)`` for a few rows: x rounded to bf16 once, the weights split across
    /// the cores (rows, or panels of 64 rows in the blocked layout), each read from memory once.
    private func vectorLinear(
        _ x: UnsafePointer<Float>, rows m: Int, weights: UnsafeMutablePointer<UInt16>, layout: Layout,
        into y: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        // The blocked kernel reads each row of x padded with zeros as the layout pads the columns.
        let stride = layout == .blocked ? Int(crma_bf16_blocked_padded_k(Int64(cols))) : cols
        let xb = UnsafeMutablePointer<UInt16>.allocate(capacity: m * stride)
        defer { xb.deallocate() }
        xb.initialize(repeating: 0, count: m * stride)
        for r in 0..<m { crma_bf16_from_f32(x + r * cols, xb + r * stride, Int64(cols)) }
        let (w, k, n, add) = (SendablePointer(weights), Int64(cols), rows, Int32(accumulate ? 1 : 0))
        let (xs, ys) = (SendablePointer(xb), SendablePointer(y))
        switch layout {
        case .rowMajor:
            Parallel.rows(n, minRows: 64) { range in
                crma_bf16_gemv_xwt(
                    xs.p, Int64(m), k, w.p, Int64(range.lowerBound), Int64(range.upperBound), ys.p, Int64(n), add)
            }
        case .blocked:
            Parallel.rows((n + 63) / 64, minRows: 1) { panels in
                crma_bf16_gemv_xwt_blocked(
                    xs.p, Int64(m), k, w.p, Int64(n), Int64(panels.lowerBound), Int64(panels.upperBound), ys.p,
                    Int64(n), add)
            }
        }
    }

    /// `y[m × cols] (+)= x[m × rows] · W` (the input gradient of ``linear(_:rows:into:accumulate:)``).
    /// Converts the matrix to ``Layout/rowMajor`` first (once).
    public func inputGradient(
        _ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        makeRowMajor()
        reading { w, _ in
            let status = crma_bf16_gemm_xw(x, Int64(m), Int64(rows), w, Int64(cols), y, accumulate ? 1 : 0)
            precondition(status == 0, "bf16 GEMM failed (oneDNN status \(status))")
        }
    }

    /// Row `r` widened to floats (exact) into `out` (`cols` floats): an embedding lookup.
    public func widenRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows, "row \(r) out of range")
        reading { w, layout in
            switch layout {
            case .rowMajor: crma_bf16_to_f32(w + r * cols, out, Int64(cols))
            case .blocked: crma_bf16_blocked_row_to_f32(w, Int64(cols), Int64(r), out)
            }
        }
    }

    /// The whole matrix widened to floats (exact, row-major): what the bf16 GEMMs multiply by.
    public func widened() -> FloatBuffer {
        let out = FloatBuffer(count: rows * cols)
        reading { w, layout in
            switch layout {
            case .rowMajor:
                crma_bf16_to_f32(w, out.pointer, Int64(rows * cols))
            case .blocked:
                let plain = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * cols)
                defer { plain.deallocate() }
                crma_bf16_unpack_blocked(w, Int64(rows), Int64(cols), plain)
                crma_bf16_to_f32(plain, out.pointer, Int64(rows * cols))
            }
        }
        return out
    }

    /// oneDNN's name for the implementation that runs ``linear(_:rows:into:accumulate:)`` at `m` rows in
    /// `layout` (e.g. "brg:avx512_core_bf16"; "ref:any" would be its slow reference code).
    public func implementation(rows m: Int, layout: Layout) -> String {
        String(cString: crma_bf16_gemm_implementation(Int64(m), Int64(cols), Int64(rows), layout == .blocked ? 1 : 0))
    }
}
