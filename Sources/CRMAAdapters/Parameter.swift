import CRMANumerics

/// Which optimizer group a tensor belongs to (crma.md §5): each group has its own learning rate.
public enum ParameterGroup: String, Sendable, Codable, CaseIterable {
    /// LoRA A/B and CRMA read/write projections.
    case proj
    /// CRMA mixing logits (`log_mix`).
    case structural
    /// CRMA gates (`log_alpha`).
    case gate
}

/// Which clipping family a tensor belongs to: LoRA and CRMA gradients are clipped separately (crma.md §5).
public enum ClipFamily: String, Sendable, Codable { case lora, crma }

/// A trainable tensor with its gradient accumulator.
///
/// - Important: reference type; the adapter that owns it and the optimizer share it on one thread.
public final class Parameter {
    /// Stable name, used in checkpoints and exports (`layers.3.q.lora_A`, `layers.3.crma.R`, …).
    public let name: String
    public let shape: [Int]
    public let group: ParameterGroup
    public let family: ClipFamily
    public let value: FloatBuffer
    public let grad: FloatBuffer

    public init(name: String, shape: [Int], group: ParameterGroup, family: ClipFamily, value: FloatBuffer? = nil) {
        self.name = name
        self.shape = shape
        self.group = group
        self.family = family
        let count = shape.reduce(1, *)
        self.value = value ?? FloatBuffer(count: count)
        precondition(self.value.count == count, "\(name): \(self.value.count) values for shape \(shape)")
        grad = FloatBuffer(count: count)
    }

    public var count: Int { value.count }

    public func zeroGrad() { grad.pointer.initialize(repeating: 0, count: grad.count) }
}
