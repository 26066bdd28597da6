import CRMAAdapters
import CRMAModel
import CRMANumerics
import Foundation

/// Where learning-without-forgetting gets the teacher's view of a batch: the final normed hidden states
/// of the model as it was before the update (base plus the previous adapters).
public protocol DistillationTeacher: AnyObject {
    /// The teacher's final normed hidden states for `batch`, `[batch·seqLen × hidden]`.
    func hiddenStates(for batch: TrainingBatch) throws -> FloatBuffer
}

/// Computes the teacher on the fly: a second forward pass (layers only) through the frozen base with
/// the previous adapters, per batch. Costs one forward per step and a second set of activations.
public final class LiveTeacher: DistillationTeacher {
    private let pass: LlamaTrainingPass

    /// `adapters` must not be trained while this teacher is in use (pass frozen copies).
    public init(model: LlamaModel, adapters: AdapterSet) {
        pass = LlamaTrainingPass(model: model, hooks: adapters)
    }

    public func hiddenStates(for batch: TrainingBatch) -> FloatBuffer {
        let n = batch.batch * batch.seqLen * pass.model.config.hiddenSize
        let out = FloatBuffer(count: n)
        out.pointer.update(from: pass.forwardHidden(batch), count: n)
        return out
    }
}

/// Keeps teacher states on disk, one file per batch named by the SHA-256 of the batch's layout, in a
/// directory that belongs to one teacher. A miss runs the live teacher and stores the result (durably),
/// so a resumed or repeated update never recomputes a batch; ``prefill(_:)`` computes a known schedule
/// ahead, after which training needs no teacher forward at all.
public final class CachedTeacher: DistillationTeacher {
    public let directory: String
    private let live: LiveTeacher
    private let hidden: Int
    /// Batches served from disk and batches computed, so far.
    public private(set) var hits = 0
    public private(set) var misses = 0

    /// States go under `root/<fingerprint of the teacher's adapters>`, so a changed teacher never reads
    /// another teacher's states.
    public init(root: String, model: LlamaModel, adapters: AdapterSet) throws {
        directory = "\(root)/\(Self.fingerprint(adapters))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        live = LiveTeacher(model: model, adapters: adapters)
        hidden = model.config.hiddenSize
    }

    /// Computes and stores the states of every batch not yet on disk.
    public func prefill(_ batches: [TrainingBatch]) throws {
        for b in batches { _ = try hiddenStates(for: b) }
    }

    /// Bytes the cache holds on disk.
    public var bytesOnDisk: Int {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.reduce(0) { sum, f in
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + f)
            return sum + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
        }
    }

    public func hiddenStates(for batch: TrainingBatch) throws -> FloatBuffer {
        let count = batch.batch * batch.seqLen * hidden
        let path = "\(directory)/\(Self.key(batch)).f32"
        if let data = FileManager.default.contents(atPath: path), data.count == count * 4 {
            let out = FloatBuffer(count: count)
            data.withUnsafeBytes { raw in
                out.pointer.update(from: raw.bindMemory(to: Float.self).baseAddress!, count: count)
            }
            hits += 1
            return out
        }
        let out = live.hiddenStates(for: batch)
        try AtomicFile.write(Data(buffer: out.buffer), to: path)
        misses += 1
        return out
    }

    /// SHA-256 of every adapter value of the teacher (names and floats), in order.
    static func fingerprint(_ adapters: AdapterSet) -> String {
        var h = CRMAModel.SHA256()
        let params = adapters.loras.flatMap(\.parameters) + (adapters.crma?.parameters ?? [])
        for p in params {
            h.update(Array(p.name.utf8))
            UnsafeBufferPointer(start: p.value.pointer, count: p.count).withMemoryRebound(to: UInt8.self) {
                h.update($0)
            }
        }
        if let mixing = adapters.crma?.config.mixing { h.update(Array("\(mixing)".utf8)) }
        return String(CRMAModel.SHA256.hex(h.finalize()).prefix(16))
    }

    /// The cache key of a batch: its tokens, positions and document boundaries.
    static func key(_ b: TrainingBatch) -> String {
        var h = CRMAModel.SHA256()
        for field in [[Int32(b.batch), Int32(b.seqLen)], b.tokens, b.positions, b.segmentStarts] {
            field.withUnsafeBytes { h.update($0) }
        }
        return CRMAModel.SHA256.hex(h.finalize())
    }
}

/// Learning without forgetting's settings for a trainer: who teaches and how the loss mixes.
public struct Distillation {
    public let teacher: any DistillationTeacher
    /// Weight of the data's cross-entropy (1: plain fine-tuning; 0: only follow the teacher).
    public var alpha: Float
    public var temperature: Float

    public init(teacher: any DistillationTeacher, alpha: Float = 0.5, temperature: Float = 2) {
        self.teacher = teacher
        self.alpha = alpha
        self.temperature = temperature
    }
}
