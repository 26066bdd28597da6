import CRMAAdapters
import CRMAModel
import CRMANumerics
import Foundation

/// Everything needed to continue a run exactly: adapter tensors, AdamW moments and step (the schedule
/// position), clipping state, skipped-step count and the data cursor, in one safetensors file written
/// atomically. Restoring it and training on gives bit-identical weights to a run never interrupted.
public enum TrainingCheckpoint {
    public static let format = "crma-checkpoint-1"

    struct State: Codable {
        var format: String
        var step: Int
        var skipped: Int
        var cursor: BatchCursor
        var clipper: GradientClipper
        var parameters: [String]
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "checkpoint: \(reason)" }
    }

    public static func save(_ trainer: Trainer, cursor: BatchCursor, to path: String) throws {
        let opt = trainer.optimizer
        let state = State(
            format: format, step: opt.stepCount, skipped: trainer.skippedSteps, cursor: cursor,
            clipper: trainer.clipper,
            parameters: opt.parameters.map(\.name))
        var w = SafetensorsWriter(metadata: ["crma": String(decoding: try JSONEncoder().encode(state), as: UTF8.self)])
        for (k, p) in opt.parameters.enumerated() {
            w.add("param/\(p.name)", shape: p.shape, values: p.value.array)
            w.add("adam_m/\(p.name)", shape: p.shape, values: opt.m[k].array)
            w.add("adam_v/\(p.name)", shape: p.shape, values: opt.v[k].array)
        }
        try w.write(to: path)
    }

    /// Restores `trainer` (built with the same adapter configuration) and returns the data cursor.
    public static func load(_ path: String, into trainer: Trainer) throws -> BatchCursor {
        let file = try SafetensorsFile(path: path)
        guard let json = file.metadata["crma"],
            let state = try? JSONDecoder().decode(State.self, from: Data(json.utf8)),
            state.format == format
        else { throw LoadError(reason: "\(path) is not a \(format) file") }
        let opt = trainer.optimizer
        guard state.parameters == opt.parameters.map(\.name) else {
            throw LoadError(reason: "\(path) holds different adapter tensors than this run trains")
        }
        for (k, p) in opt.parameters.enumerated() {
            for (prefix, buffer) in [("param/", p.value), ("adam_m/", opt.m[k]), ("adam_v/", opt.v[k])] {
                guard let values = try file.floats(prefix + p.name), values.count == buffer.count else {
                    throw LoadError(reason: "\(path) lacks \(prefix)\(p.name) or its shape differs")
                }
                values.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: values.count) }
            }
        }
        opt.stepCount = state.step
        trainer.restore(skipped: state.skipped, clipper: state.clipper)
        return state.cursor
    }
}
