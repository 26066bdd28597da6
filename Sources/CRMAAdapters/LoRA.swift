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
        BLAS.sgemm(
            transB: true, m: rows, n: r, k: inFeatures, a: x, lda: inFeatures, b: A.value.pointer, ldb: inFeatures,
            c: u.pointer, ldc: r)
        BLAS.sgemm(
            transB: true, m: rows, n: outFeatures, k: r, alpha: config.scale, a: u.pointer, lda: r, b: B.value.pointer,
            ldb: r, beta: 1, c: y, ldc: ldy)
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
            BLAS.sgemm(
                transA: true, m: outFeatures, n: r, k: rows, alpha: s, a: dy, lda: ldy, b: u.pointer, ldb: r, beta: 1,
                c: B.grad.pointer, ldc: r)
        }
        // du = s · dy·B ; dA += duᵀ·x ; dx += du·A
        BLAS.sgemm(
            m: rows, n: r, k: outFeatures, alpha: s, a: dy, lda: ldy, b: B.value.pointer, ldb: r, c: du.pointer, ldc: r)
        if trainable {
            BLAS.sgemm(
                transA: true, m: r, n: inFeatures, k: rows, a: du.pointer, lda: r, b: x, ldb: inFeatures, beta: 1,
                c: A.grad.pointer, ldc: inFeatures)
        }
        BLAS.sgemm(
            m: rows, n: inFeatures, k: r, a: du.pointer, lda: r, b: A.value.pointer, ldb: inFeatures, beta: 1, c: dx,
            ldc: inFeatures)
    }
}
