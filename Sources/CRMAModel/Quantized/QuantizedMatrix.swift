import CQuant
import CRMANumerics

/// A frozen weight matrix `W[rows × cols]` kept in its file's own encoding (GGUF's quantized blocks, or
/// F32/F16/BF16), a fraction of the fp32 matrix's memory (Q4_K: 4.5 bits a weight). The GEMMs dequantize
/// it panel by panel (``panelRows`` rows at a time, both cores) into an fp32 buffer that OpenBLAS
/// multiplies by: the weights are exactly the fp32 model's from the same file, and the GEMMs' results
/// equal its up to float rounding (OpenBLAS picks kernels by shape; decoding sums in its own order).
///
/// A matrix may stack tensors of different encodings (a Q4_K q over a Q6_K v): one ``Segment`` each.
///
/// - Important: the bytes never change after init, which `@unchecked Sendable` rests on.
public final class QuantizedMatrix: @unchecked Sendable {
    /// Consecutive rows stored in one encoding.
    public struct Segment: Sendable {
        /// The encoding of these rows.
        public let type: GGMLType
        /// Which rows of the matrix.
        public let rows: Range<Int>
        /// Where its first row starts in the storage.
        let byteOffset: Int
        /// Bytes of one row (whole blocks).
        let rowBytes: Int
    }

    /// `out` of a linear layer's `[out × in]`.
    public let rows: Int
    /// `in` of a linear layer's `[out × in]`.
    public let cols: Int
    /// The stacked tensors, in row order.
    public let segments: [Segment]
    /// Bytes held (the blocks, as in the file).
    public let byteCount: Int
    private let storage: UnsafeMutableRawPointer

    /// Rows per panel: about 4 MB of fp32 (``panelElements``; not tuned).
    public let panelRows: Int

    /// Reads `parts` (each `rows × cols`, stacked in order) from `source` in their stored encoding.
    /// Throws ``ModelFileError/notStoredInBlocks(tensor:)`` when the source cannot hand them over.
    public convenience init(source: some LlamaWeightSource, parts: [LlamaMatrixPart], cols: Int) throws {
        let types = try parts.map { part in
            guard let type = source.storedType(of: part.tensor), type.byteCount(elements: cols) != nil else {
                throw ModelFileError.notStoredInBlocks(tensor: "\(part.tensor)")
            }
            return type
        }
        let (segments, rows, bytes) = Self.layout(zip(types, parts).map { ($0, $1.rows) }, cols: cols)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        do {
            for (part, s) in zip(parts, segments) {
                try source.readStored(part.tensor, shape: [part.rows, cols], into: storage + s.byteOffset)
            }
        } catch {
            storage.deallocate()
            throw error
        }
        self.init(storage: storage, segments: segments, rows: rows, cols: cols, byteCount: bytes)
    }

    /// One tensor of `type` whose blocks are `bytes` (`rows × cols` elements).
    public convenience init(type: GGMLType, bytes: UnsafeRawBufferPointer, rows: Int, cols: Int) {
        self.init(stacking: [(type, bytes, rows)], cols: cols)
    }

    /// Tensors stacked in order, each `rows × cols` of `type` in `bytes`; `panelRows` (tests) overrides
    /// the panel height.
    convenience init(stacking parts: [(type: GGMLType, bytes: UnsafeRawBufferPointer, rows: Int)], cols: Int, panelRows: Int? = nil) {
        for part in parts {
            guard let rowBytes = part.type.byteCount(elements: cols), rowBytes * part.rows == part.bytes.count else {
                preconditionFailure("\(part.bytes.count) bytes are not \(part.rows) rows of \(cols) \(part.type.name) elements")
            }
        }
        let (segments, rows, total) = Self.layout(parts.map { ($0.type, $0.rows) }, cols: cols)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 64)
        for (part, s) in zip(parts, segments) where part.bytes.count > 0 {
            (storage + s.byteOffset).copyMemory(from: part.bytes.baseAddress!, byteCount: part.bytes.count)
        }
        self.init(storage: storage, segments: segments, rows: rows, cols: cols, byteCount: total, panelRows: panelRows)
    }

    /// Parts of `rows` rows each stacked in order: their segments, the matrix's rows and its bytes.
    /// - Precondition: each type's rows of `cols` elements are whole blocks.
    private static func layout(_ parts: [(type: GGMLType, rows: Int)], cols: Int)
        -> (segments: [Segment], rows: Int, bytes: Int)
    {
        var segments: [Segment] = []
        var row = 0, bytes = 0
        for (type, rows) in parts {
            let rowBytes = type.byteCount(elements: cols)!
            segments.append(Segment(type: type, rows: row..<(row + rows), byteOffset: bytes, rowBytes: rowBytes))
            row += rows
            bytes += rows * rowBytes
        }
        return (segments, row, bytes)
    }

    private init(
        storage: UnsafeMutableRawPointer, segments: [Segment], rows: Int, cols: Int, byteCount: Int, panelRows: Int? = nil
    ) {
        self.storage = storage
        self.segments = segments
        self.rows = rows
        self.cols = cols
        self.byteCount = byteCount
        self.panelRows = panelRows ?? max(16, min(rows, Self.panelElements / max(cols, 1)))
    }

    /// Floats per panel: 4 MB.
    static let panelElements = 1 << 20

    deinit { storage.deallocate() }

    /// The part of `range` in each segment it touches, with where that part's first row is stored.
    private func pieces(of range: Range<Int>) -> [(segment: Segment, rows: Range<Int>, bytes: UnsafeRawPointer)] {
        segments.compactMap { s in
            let lo = max(range.lowerBound, s.rows.lowerBound), hi = min(range.upperBound, s.rows.upperBound)
            guard lo < hi else { return nil }
            return (s, lo..<hi, UnsafeRawPointer(storage + s.byteOffset + (lo - s.rows.lowerBound) * s.rowBytes))
        }
    }

    /// Rows `range` dequantized into `out` (`range.count × cols` floats, row-major), on this thread.
    public func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of 0..<\(rows)")
        for (s, part, bytes) in pieces(of: range) {
            Dequantize.run(s.type, bytes, count: part.count * cols, into: out + (part.lowerBound - range.lowerBound) * cols)
        }
    }

    /// ``dequantize(rows:into:)`` split across the cores.
    private func dequantizeInParallel(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let panel = SendablePointer(out)
        Parallel.rows(range.count, minRows: 16) { part in
            self.dequantize(
                rows: (range.lowerBound + part.lowerBound)..<(range.lowerBound + part.upperBound),
                into: panel.p + part.lowerBound * self.cols)
        }
    }

    /// Runs `body(rows, panel)` for each panel of rows in order, `panel` holding them as floats.
    private func forEachPanel(_ body: (Range<Int>, UnsafePointer<Float>) -> Void) {
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: panelRows * cols)
        defer { panel.deallocate() }
        var start = 0
        while start < rows {
            let range = start..<min(rows, start + panelRows)
            dequantizeInParallel(rows: range, into: panel)
            body(range, panel)
            start = range.upperBound
        }
    }
}

extension QuantizedMatrix: FrozenMatrix {
    /// `y[m × rows] (+)= x[m × cols] · Wᵀ`, one panel of output columns at a time; up to
    /// ``vectorRows`` rows of x (decoding) row by row of W instead (``vectorLinear(_:rows:into:accumulate:)``).
    public func linear(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        if m <= Self.vectorRows {
            vectorLinear(x, rows: m, into: y, accumulate: accumulate)
            return
        }
        forEachPanel { range, panel in
            BLAS.sgemm(
                transB: true, m: m, n: range.count, k: cols, a: x, lda: cols, b: panel, ldb: cols,
                beta: accumulate ? 1 : 0, c: y + range.lowerBound, ldc: rows)
        }
    }

    /// `y[m × cols] (+)= x[m × rows] · W`, summed over the panels in order.
    public func inputGradient(
        _ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        forEachPanel { range, panel in
            BLAS.sgemm(
                m: m, n: cols, k: range.count, a: x + range.lowerBound, lda: rows, b: panel, ldb: cols,
                beta: accumulate || range.lowerBound > 0 ? 1 : 0, c: y, ldc: cols)
        }
    }

    public func widenRow(_ r: Int, into out: UnsafeMutablePointer<Float>) { dequantize(rows: r..<(r + 1), into: out) }

    /// Up to this many rows of x take ``vectorLinear(_:rows:into:accumulate:)``.
    public static let vectorRows = 4

    /// ``linear(_:rows:into:accumulate:)`` for a few rows of x: each row of W is dequantized once, into a
    /// buffer that stays in cache, and multiplied with every row of x (the cores split W's rows). Reads
    /// the matrix once, in its blocks: decoding streams 1.1 GB a token at 1.5B instead of 3.1 GB in bf16.
    /// Sums in another order than the panels' sgemm (equal up to float rounding).
    func vectorLinear(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let out = SendablePointer(y), input = SendablePointer(UnsafeMutablePointer(mutating: x))
        let (n, k) = (rows, cols)
        Parallel.rows(n, minRows: 64) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: k)
            defer { scratch.deallocate() }
            for (s, part, bytes) in self.pieces(of: range) {
                let status = crma_dequantize_dot(
                    s.type.rawValue, bytes, Int64(s.rowBytes), Int64(part.lowerBound), Int64(part.upperBound),
                    Int64(k), input.p, Int64(m), Int64(k), out.p, Int64(n), accumulate ? 1 : 0, scratch)
                precondition(status == 0, "no dequantizer for \(s.type.name)")
            }
        }
    }

    public func widened() -> FloatBuffer {
        let out = FloatBuffer(count: rows * cols)
        dequantizeInParallel(rows: 0..<rows, into: out.pointer)
        return out
    }
}
