import CRMANumerics
import Foundation

/// Rotary position embedding in the Hugging Face "rotate half" form: within each head, element `i` is
/// paired with element `i + headDim/2` and the pair is rotated by `position · theta^(−2i/headDim)`.
public struct RotaryEmbedding: Sendable {
    public let headDim: Int
    public let maxPositions: Int
    /// `[maxPositions × headDim/2]` cosines and sines, computed in Float64 then rounded.
    let cos: [Float]
    let sin: [Float]

    public init(headDim: Int, theta: Float, maxPositions: Int) {
        self.headDim = headDim
        self.maxPositions = maxPositions
        let half = headDim / 2
        var c = [Float](repeating: 0, count: maxPositions * half)
        var s = c
        for p in 0..<maxPositions {
            for i in 0..<half {
                let inv = 1 / Foundation.pow(Double(theta), Double(2 * i) / Double(headDim))
                let a = Double(p) * Double(Float(inv))
                c[p * half + i] = Float(Foundation.cos(a))
                s[p * half + i] = Float(Foundation.sin(a))
            }
        }
        cos = c
        sin = s
    }

    /// Rotates `heads` heads of `rows` rows in place; row `r` is at position `firstPosition + r`.
    /// `x` points at the first head of row 0; rows are `stride` floats apart.
    public func apply(
        _ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, heads: Int, firstPosition: Int, inverse: Bool = false
    ) {
        let half = headDim / 2
        cos.withUnsafeBufferPointer { cb in
            sin.withUnsafeBufferPointer { sb in
                for r in 0..<rows {
                    let pos = firstPosition + r
                    let c = cb.baseAddress! + pos * half
                    let s = sb.baseAddress! + pos * half
                    let sign: Float = inverse ? -1 : 1
                    for h in 0..<heads {
                        let v = x + r * stride + h * headDim
                        for i in 0..<half {
                            let x0 = v[i], x1 = v[i + half]
                            let sn = sign * s[i]
                            v[i] = x0 * c[i] - x1 * sn
                            v[i + half] = x1 * c[i] + x0 * sn
                        }
                    }
                }
            }
        }
    }

    /// Rotates the q and k heads of a fused `[batch·seqLen × qkvSize]` activation in place, rows split
    /// across the cores.
    public func applyToQK(
        _ qkv: UnsafeMutablePointer<Float>, config c: LlamaConfig, batch: Int, seqLen: Int, firstPosition: Int
    ) {
        let p = SendablePointer(qkv)
        let stride = c.qkvSize, qSize = c.qSize, heads = c.heads, kvHeads = c.kvHeads
        Parallel.rows(batch * seqLen) { r in
            var row = r.lowerBound
            while row < r.upperBound {
                // Rows of one sequence share consecutive positions.
                let b = row / seqLen, t = row % seqLen
                let n = min(r.upperBound - row, seqLen - t)
                let base = p.p + (b * seqLen + t) * stride
                apply(base, rows: n, stride: stride, heads: heads, firstPosition: firstPosition + t)
                apply(base + qSize, rows: n, stride: stride, heads: kvHeads, firstPosition: firstPosition + t)
                row += n
            }
        }
    }

    /// Rotates the q and k heads of a fused `[rows × qkvSize]` activation in place, each row by its own
    /// position (`positions[r]`, rows = `positions.count`), rows split across the cores.
    public func applyToQK(_ qkv: UnsafeMutablePointer<Float>, config c: LlamaConfig, positions: [Int32]) {
        let p = SendablePointer(qkv)
        let stride = c.qkvSize, qSize = c.qSize, heads = c.heads, kvHeads = c.kvHeads
        positions.withUnsafeBufferPointer { pos in
            let pp = SendablePointer(UnsafeMutablePointer(mutating: pos.baseAddress!))
            Parallel.rows(pos.count) { r in
                for row in r {
                    let base = p.p + row * stride, position = Int(pp.p[row])
                    apply(base, rows: 1, stride: stride, heads: heads, firstPosition: position)
                    apply(base + qSize, rows: 1, stride: stride, heads: kvHeads, firstPosition: position)
                }
            }
        }
    }

    /// Rotates `heads` heads of each row by that row's own position (`positions[r]`), in place;
    /// `inverse` rotates back (the backward pass of the rotation).
    public func apply(
        _ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, heads: Int, positions: UnsafePointer<Int32>,
        inverse: Bool
    ) {
        for r in 0..<rows {
            apply(
                x + r * stride, rows: 1, stride: stride, heads: heads, firstPosition: Int(positions[r]),
                inverse: inverse)
        }
    }
}
