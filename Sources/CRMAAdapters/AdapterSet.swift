import CRMAModel
import CRMANumerics

/// The adapters active in a forward pass: any number of named LoRAs (at most one trainable; their
/// outputs add up) and an optional CRMA substrate. It is what the differentiable model calls.
public final class AdapterSet: LlamaAdapterHooks {
    public private(set) var loras: [LoRA]
    public let crma: CRMA?
    private let scratch = ForwardWorkspace()

    public init(loras: [LoRA] = [], crma: CRMA? = nil) {
        precondition(loras.filter(\.trainable).count <= 1, "at most one LoRA may be trainable")
        self.loras = loras
        self.crma = crma
    }

    /// Every trainable parameter: the trainable LoRA's, and CRMA's when it trains.
    public var trainableParameters: [Parameter] {
        loras.filter(\.trainable).flatMap(\.parameters) + (crma.map { $0.trainable ? $0.parameters : [] } ?? [])
    }

    public func zeroGradients() { trainableParameters.forEach { $0.zeroGrad() } }

    public func adapts(_ p: Projection, layer: Int) -> Bool { loras.contains { $0.adapts(p, layer: layer) } }

    public func projectionForward(
        _ p: Projection, layer: Int, x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int,
        outFeatures: Int
    ) {
        for lora in loras where lora.adapts(p, layer: layer) {
            lora.forward(
                p, layer: layer, x: x, rows: rows, inFeatures: inFeatures, y: y, ldy: ldy, outFeatures: outFeatures)
        }
    }

    public func projectionBackward(
        _ p: Projection, layer: Int, x: UnsafePointer<Float>, rows: Int, inFeatures: Int, dy: UnsafePointer<Float>,
        ldy: Int,
        outFeatures: Int, dx: UnsafeMutablePointer<Float>
    ) {
        for lora in loras where lora.adapts(p, layer: layer) {
            lora.backward(
                p, layer: layer, x: x, rows: rows, inFeatures: inFeatures, dy: dy, ldy: ldy, outFeatures: outFeatures,
                dx: dx, scratch: scratch)
        }
    }

    public func residualForward(layer: Int, h: UnsafeMutablePointer<Float>, rows: Int) {
        crma?.forward(layer: layer, h: h, rows: rows)
    }

    public func residualBackward(layer: Int, dh: UnsafeMutablePointer<Float>, rows: Int) {
        crma?.backward(layer: layer, dh: dh, rows: rows)
    }
}
