/// Block dequantization of every ``GGMLType`` to Float32, following ggml's block layouts
/// (ggml-common.h): each block stores one or two half-precision scales and packed integer codes.
///
/// - Important: `raw` must hold exactly `type.byteCount(elements: count)` bytes; ``GGUFFile`` checks
///   this when it opens the file.
public enum Dequantize {
    public static func run(
        _ type: GGMLType, _ raw: UnsafeRawBufferPointer, count: Int, into y: UnsafeMutablePointer<Float>
    ) {
        let src = raw.baseAddress!
        let nBlocks = count / type.blockSize
        switch type {
        case .f32:
            for i in 0..<count { y[i] = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        case .f16:
            for i in 0..<count { y[i] = half(src, 2 * i) }
        case .bf16:
            for i in 0..<count {
                y[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .q8_0:
            for b in 0..<nBlocks {
                let blk = src + b * 34, out = y + b * 32
                let d = half(blk, 0)
                for j in 0..<32 {
                    out[j] = d * Float(Int8(bitPattern: blk.load(fromByteOffset: 2 + j, as: UInt8.self)))
                }
            }
        case .q4_0, .q4_1:
            let hasMin = type == .q4_1
            let stride = type.blockBytes, qsAt = hasMin ? 4 : 2
            for b in 0..<nBlocks {
                let blk = src + b * stride, out = y + b * 32
                let d = half(blk, 0)
                let m: Float = hasMin ? half(blk, 2) : -8 * d
                for j in 0..<16 {
                    let q = blk.load(fromByteOffset: qsAt + j, as: UInt8.self)
                    out[j] = d * Float(q & 0xF) + m
                    out[j + 16] = d * Float(q >> 4) + m
                }
            }
        case .q5_0, .q5_1:
            let hasMin = type == .q5_1
            let stride = type.blockBytes, qhAt = hasMin ? 4 : 2
            for b in 0..<nBlocks {
                let blk = src + b * stride, out = y + b * 32
                let d = half(blk, 0)
                let m: Float = hasMin ? half(blk, 2) : -16 * d
                let qh = blk.loadUnaligned(fromByteOffset: qhAt, as: UInt32.self).littleEndian
                for j in 0..<16 {
                    let q = blk.load(fromByteOffset: qhAt + 4 + j, as: UInt8.self)
                    let h0 = UInt8((qh >> UInt32(j)) & 1) << 4
                    let h1 = UInt8((qh >> UInt32(j + 16)) & 1) << 4
                    out[j] = d * Float((q & 0xF) | h0) + m
                    out[j + 16] = d * Float((q >> 4) | h1) + m
                }
            }
        case .q4_K, .q5_K:
            let isQ5 = type == .q5_K
            let stride = type.blockBytes
            for b in 0..<nBlocks {
                let blk = src + b * stride, out = y + b * 256
                let d = half(blk, 0), dmin = half(blk, 2)
                let scales = blk + 4
                let qh = blk + 16  // Q5_K only: 32 bytes of high bits
                let qs = blk + (isQ5 ? 48 : 16)
                for group in 0..<4 {  // 64 elements: low nibbles then high nibbles of 32 bytes
                    for half in 0..<2 {
                        let sub = 2 * group + half
                        let (sc, mn) = scaleMinK4(sub, scales)
                        let dl = d * Float(sc), ml = dmin * Float(mn)
                        for l in 0..<32 {
                            let byte = qs.load(fromByteOffset: 32 * group + l, as: UInt8.self)
                            var q = half == 0 ? byte & 0xF : byte >> 4
                            if isQ5 { q |= ((qh.load(fromByteOffset: l, as: UInt8.self) >> UInt8(sub)) & 1) << 4 }
                            out[64 * group + 32 * half + l] = dl * Float(q) - ml
                        }
                    }
                }
            }
        case .q6_K:
            for b in 0..<nBlocks {
                let blk = src + b * 210, out = y + b * 256
                let d = half(blk, 208)
                for n in 0..<2 {
                    let ql = blk + 64 * n, qh = blk + 128 + 32 * n, sc = blk + 192 + 8 * n
                    let o = out + 128 * n
                    for l in 0..<32 {
                        let s = l / 16
                        let lo0 = ql.load(fromByteOffset: l, as: UInt8.self)
                        let lo1 = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                        let hi = qh.load(fromByteOffset: l, as: UInt8.self)
                        let q1 = Int(lo0 & 0xF | (hi & 3) << 4) - 32
                        let q2 = Int(lo1 & 0xF | ((hi >> 2) & 3) << 4) - 32
                        let q3 = Int(lo0 >> 4 | ((hi >> 4) & 3) << 4) - 32
                        let q4 = Int(lo1 >> 4 | ((hi >> 6) & 3) << 4) - 32
                        o[l] = d * scale(sc, s) * Float(q1)
                        o[l + 32] = d * scale(sc, s + 2) * Float(q2)
                        o[l + 64] = d * scale(sc, s + 4) * Float(q3)
                        o[l + 96] = d * scale(sc, s + 6) * Float(q4)
                    }
                }
            }
        }
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    static func scale(_ sc: UnsafeRawPointer, _ i: Int) -> Float {
        Float(Int8(bitPattern: sc.load(fromByteOffset: i, as: UInt8.self)))
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) in the 12 packed bytes of a Q4_K/Q5_K block.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        func at(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (at(j) & 63, at(j + 4) & 63) }
        return ((at(j + 4) & 0xF) | ((at(j - 4) >> 6) << 4), (at(j + 4) >> 4) | ((at(j) >> 6) << 4))
    }
}
