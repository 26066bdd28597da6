import CRMAModel
import CRMANumerics

/// Settings of a LoRA adapter (crma.md §4): `ΔW = (alpha / rank) · B·A` on the chosen projections.
public struct LoRAConfig: Sendable, Equatable, Codable {
    public var rank: Int
    public var alpha: Float
    public var targets: [Projection]

    public init(rank: Int = 8, alpha: Float = 16, targets: [Projection] = [.q, .k, .v, .o]) {
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
    }

    public var scale: Float { alpha / Float(rank) }
}

/// One LoRA adapter over a whole model: for each layer and target projection, `A[rank × in]`
/// (Kaiming-uniform) and `B[out × rank]` (zero), in PEFT's layout.
///
/// - Important: one forward or backward pass at a time: a pass keeps its activations and scratch
///   products in the instance (crmad runs every model request on one worker).
public final class LoRA {
    public let name: String
    public let config: LoRAConfig
    /// Keyed by layer, then projection.
    public let a: [[Projection: Parameter]]
    public let b: [[Projection: Parameter]]
    /// Whether gradients are accumulated into A and B.
    public var trainable: Bool
    /// `x·Aᵀ` of the last forward, per layer and projection, for the backward pass.
    private var saved: [Int: [Projection: FloatBuffer]] = [:]
    /// `Bᵀ` of the projection being run and `B`'s gradient in that layout (SkinnyGemm's operands are `[rank × k]`).
    private let scratch = ForwardWorkspace()

    public init(name: String, config: LoRAConfig, model: LlamaConfig, seed: UInt64, trainable: Bool = true) {
        self.name = name
        self.config = config
        self.trainable = trainable
        var rng = SeededRandom(seed: seed)
        var aa: [[Projection: Parameter]] = [], bb: [[Projection: Parameter]] = []
        for l in 0..<model.layers {
            var la: [Projection: Parameter] = [:], lb: [Projection: Parameter] = [:]
            for p in config.targets {
                let (inF, outF) = Self.shape(p, model)
                let a = Parameter(
                    name: "layers.\(l).\(p.rawValue).lora_A", shape: [config.rank, inF], group: .proj, family: .lora)
                // Kaiming-uniform with a = √5 (PyTorch's nn.Linear default, as PEFT uses): bound = 1/√in.
                let bound = 1 / Float(inF).squareRoot()
                for i in 0..<a.count { a.value[i] = Float(rng.uniform(-Double(bound), Double(bound))) }
                la[p] = a
                lb[p] = Parameter(
                    name: "layers.\(l).\(p.rawValue).lora_B", shape: [outF, config.rank], group: .proj, family: .lora)
            }
            aa.append(la)
            bb.append(lb)
        }
        a = aa
        b = bb
    }

    /// An independent copy with the same values (not trainable): the adapter as it is now, for a teacher
    /// or a reference that must not move while this one trains.
    public func frozenCopy() -> LoRA {
        func copy(_ layers: [[Projection: Parameter]]) -> [[Projection: Parameter]] {
            layers.map { layer in
                layer.mapValues { p in
                    Parameter(
                        name: p.name, shape: p.shape, group: p.group, family: p.family, value: FloatBuffer(p.value.array))
                }
            }
        }
        return LoRA(name: name, config: config, a: copy(a), b: copy(b), trainable: false)
    }

    private init(
        name: String, config: LoRAConfig, a: [[Projection: Parameter]], b: [[Projection: Parameter]], trainable: Bool
    ) {
        self.name = name
        self.config = config
        self.a = a
        self.b = b
        self.trainable = trainable
    }

    /// (in, out) features of a projection.
    public static func shape(_ p: Projection, _ c: LlamaConfig) -> (Int, Int) {
        switch p {
        case .q: (c.hiddenSize, c.qSize)
        case .k, .v: (c.hiddenSize, c.kvSize)
        case .o: (c.qSize, c.hiddenSize)
        case .gate, .up: (c.hiddenSize, c.ffnSize)
        case .down: (c.ffnSize, c.hiddenSize)
        }
    }

    public var parameters: [Parameter] {
        (0..<a.count).flatMap { l in config.targets.flatMap { [a[l][$0]!, b[l][$0]!] } }
    }

    func adapts(_ p: Projection, layer: Int) -> Bool { a[layer][p] != nil }

    func forward(
        _ p: Projection, layer: Int, x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, outFeatures: Int
    ) {
        guard let A = a[layer][p], let B = b[layer][p] else { return }
        let r = config.rank
        var perLayer = saved[layer] ?? [:]
        let u = perLayer[p].flatMap { $0.count >= rows * r ? $0 : nil } ?? FloatBuffer(count: rows * r)
        perLayer[p] = u
        saved[layer] = perLayer
        // u = x·Aᵀ ; y += s · u·Bᵀ
        SkinnyGemm.down(rows: rows, k: inFeatures, r: r, x: x, ldx: inFeatures, w: A.value.pointer, into: u.pointer)
        if rows < 4 {
            // Decoding: B as it is, rather than a transposed copy that costs as much as the product.
            SkinnyGemm.upTransposed(
                rows: rows, k: outFeatures, r: r, alpha: config.scale, u: u.pointer, wT: B.value.pointer, into: y,
                ldy: ldy)
            return
        }
        let bT = transposedB(B, outFeatures: outFeatures)
        SkinnyGemm.up(
            rows: rows, k: outFeatures, r: r, alpha: config.scale, u: u.pointer, w: bT, into: y, ldy: ldy,
            accumulate: true)
    }

    func backward(
        _ p: Projection, layer: Int, x: UnsafePointer<Float>, rows: Int, inFeatures: Int, dy: UnsafePointer<Float>,
        ldy: Int,
        outFeatures: Int, dx: UnsafeMutablePointer<Float>, scratch: ForwardWorkspace
    ) {
        guard let A = a[layer][p], let B = b[layer][p], let u = saved[layer]?[p] else { return }
        let r = config.rank, s = config.scale
        let du = scratch.buffer("lora.du", rows * r)
        if trainable {
            // dB += s · dyᵀ·u
            SkinnyGemm.accumulateOuterTransposed(
                rows: rows, k: outFeatures, r: r, alpha: s, u: u.pointer, x: dy, ldx: ldy, into: B.grad.pointer,
                scratch: self.scratch.buffer("dBT", r * outFeatures).pointer)
        }
        // du = s · dy·B ; dA += duᵀ·x ; dx += du·A
        let bT = transposedB(B, outFeatures: outFeatures)
        SkinnyGemm.down(rows: rows, k: outFeatures, r: r, alpha: s, x: dy, ldx: ldy, w: bT, into: du.pointer)
        if trainable {
            SkinnyGemm.accumulateOuter(
                rows: rows, k: inFeatures, r: r, u: du.pointer, x: x, ldx: inFeatures, into: A.grad.pointer)
        }
        SkinnyGemm.up(
            rows: rows, k: inFeatures, r: r, u: du.pointer, w: A.value.pointer, into: dx, ldy: inFeatures,
            accumulate: true)
    }

    /// `Bᵀ` (`[rank × out]`) in scratch memory, valid until the next call.
    private func transposedB(_ B: Parameter, outFeatures: Int) -> UnsafePointer<Float> {
        let r = config.rank
        let bT = scratch.buffer("BT", r * outFeatures)
        SmallGemm.transpose(B.value.pointer, rows: outFeatures, cols: r, ld: r, into: bT.pointer)
        return UnsafePointer(bT.pointer)
    }
}
