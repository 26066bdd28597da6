/// Vectorised transcendental functions. SIMD types have no `exp`, and calling `Foundation.exp` per lane
/// is scalar; this is a Cephes-style range reduction plus a degree-7 polynomial (relative error about
/// 2e-7 over the float range), written with compare-and-replace rather than `clamped`, which is
/// scalarised on this toolchain.
public enum FastMath {
    public typealias V = SIMD16<Float>

    @inlinable @inline(__always)
    public static func exp(_ x0: V) -> V {
        var x = x0
        x.replace(with: V(repeating: 88.3762626647949), where: x .> 88.3762626647949)
        x.replace(with: V(repeating: -87.3365478515625), where: x .< -87.3365478515625)
        // n = round(x / ln 2) via the 1.5·2^23 trick: adding it leaves the rounded integer in the low bits.
        let magic = V(repeating: 12_582_912)
        let t = x * 1.44269504088896341 + magic
        let n = t - magic
        var r = x - n * 0.693359375
        r = r + n * 2.12194440e-4
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        // 2^n: put n + 127 into the exponent field.
        let nBits = unsafeBitCast(t, to: SIMD16<UInt32>.self) &- unsafeBitCast(magic, to: SIMD16<UInt32>.self)
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: V.self)
        return y * scale
    }

    /// Scalar convenience over the vector path (used for tails).
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }
}
