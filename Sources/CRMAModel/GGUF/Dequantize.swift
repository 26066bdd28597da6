import CQuant

/// Block dequantization of every ``GGMLType`` to Float32, following ggml's block layouts
/// (ggml-common.h): each block stores one or two half-precision scales and packed integer codes. The
/// arithmetic lives once, in C (`CQuant`), shared by loading and by ``QuantizedMatrix``'s weight panels.
///
/// - Important: `raw` must hold exactly `type.byteCount(elements: count)` bytes; ``GGUFFile`` checks
///   this when it opens the file.
public enum Dequantize {
    public static func run(
        _ type: GGMLType, _ raw: UnsafeRawBufferPointer, count: Int, into y: UnsafeMutablePointer<Float>
    ) {
        precondition(type.byteCount(elements: count) == raw.count, "\(type.name): \(raw.count) bytes for \(count) elements")
        guard count > 0 else { return }
        run(type, raw.baseAddress!, count: count, into: y)
    }

    /// ``run(_:_:count:into:)`` from a bare pointer (`count` a whole number of blocks).
    @inline(__always)
    static func run(_ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into y: UnsafeMutablePointer<Float>) {
        let status = crma_dequantize(type.rawValue, src, Int64(count), y)
        precondition(status == 0, "no dequantizer for \(type.name)")
    }
}
