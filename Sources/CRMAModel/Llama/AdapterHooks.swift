/// The linear maps inside a decoder layer that adapters can modify.
public enum Projection: String, Sendable, CaseIterable, Codable {
    case q, k, v, o, gate, up, down

    /// Hugging Face module path inside a layer (`self_attn.q_proj`, `mlp.down_proj`, …).
    public var moduleName: String {
        switch self {
        case .q, .k, .v, .o: "self_attn.\(rawValue)_proj"
        case .gate, .up, .down: "mlp.\(rawValue)_proj"
        }
    }
}

/// What the differentiable forward pass lets adapters do, without knowing which adapters exist:
/// add a term to a projection's output, and transform each layer's output (the residual stream).
/// Implementations keep whatever their backward pass needs between `forward` and `backward` calls.
///
/// - Important: the backward pass may call `forward` for gate and up again with the same input
///   (``LlamaTrainingPass/keepsGateUp`` false): it must give the same output and overwrite, not add to,
///   what it keeps.
///
/// Shapes: `rows` tokens; `x` is the projection's input `[rows × inFeatures]`; `y` its output, a column
/// block of a wider buffer with row stride `ldy` (q, k, v share one fused buffer).
public protocol LlamaAdapterHooks: AnyObject {
    /// The projections this adapter set modifies in `layer`.
    func adapts(_ p: Projection, layer: Int) -> Bool
    /// `y += adapter(x)`.
    func projectionForward(
        _ p: Projection, layer: Int, x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        y: UnsafeMutablePointer<Float>,
        ldy: Int, outFeatures: Int)
    /// Given `dy` (row stride `ldy`), accumulate parameter gradients and *add* the input gradient into `dx`.
    func projectionBackward(
        _ p: Projection, layer: Int, x: UnsafePointer<Float>, rows: Int, inFeatures: Int, dy: UnsafePointer<Float>,
        ldy: Int, outFeatures: Int, dx: UnsafeMutablePointer<Float>)
    /// Transforms the layer's output `h[rows × hidden]` in place (identity if no residual adapter).
    func residualForward(layer: Int, h: UnsafeMutablePointer<Float>, rows: Int)
    /// Given the gradient w.r.t. the transformed output, replaces it in place with the gradient w.r.t.
    /// the layer's output before the transform, accumulating parameter gradients.
    func residualBackward(layer: Int, dh: UnsafeMutablePointer<Float>, rows: Int)
}

extension LlamaAdapterHooks {
    /// `y += adapter(x)` for each of `projections` this set adapts in `layer`, where the projections'
    /// outputs are column blocks of one fused buffer (`y + offsets[i]`, `widths[i]` columns, row stride `ldy`).
    public func forward(
        _ projections: [Projection], layer: Int, x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, offsets: [Int], widths: [Int]
    ) {
        for (i, p) in projections.enumerated() where adapts(p, layer: layer) {
            projectionForward(
                p, layer: layer, x: x, rows: rows, inFeatures: inFeatures, y: y + offsets[i], ldy: ldy,
                outFeatures: widths[i])
        }
    }
}
