import CRMAModel
import CRMANumerics
import Foundation

/// A domain's LoRA for llama.cpp: as a GGUF LoRA adapter (`llama-cli --lora FILE`), or folded into a copy
/// of the base model's GGUF (`--merged`: a whole model llama.cpp runs without adapters). For Llama models
/// llama.cpp keeps the q and k projections' rows in its own rotary order, so their LoRA B (output rows) is
/// permuted the way its converter permutes the weights; A (input columns) is unchanged. Gemma's q and k rows
/// are in Hugging Face order in GGUF too, so nothing is permuted.
public enum GGUFExport {
    /// llama.cpp's tensor name of a projection in layer `l`.
    public static func tensorName(layer l: Int, projection p: Projection) -> String {
        let name =
            switch p {
            case .q: "attn_q"
            case .k: "attn_k"
            case .v: "attn_v"
            case .o: "attn_output"
            case .gate: "ffn_gate"
            case .up: "ffn_up"
            case .down: "ffn_down"
            }
        return "blk.\(l).\(name).weight"
    }

    /// B `[out × rank]` in llama.cpp's row order for projection `p`.
    static func rows(_ b: Parameter, _ p: Projection, config c: LlamaConfig) -> [Float] {
        let values = b.value.array
        guard p == .q || p == .k, c.family == .llama else { return values }
        let out = values.count / b.shape[1]
        var permuted = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            permuted.withUnsafeMutableBufferPointer { dst in
                GGUFLlamaSource.permuteRotaryRows(
                    src.baseAddress!, into: dst.baseAddress!, heads: out / c.headDim, headDim: c.headDim,
                    columns: b.shape[1])
            }
        }
        return permuted
    }

    /// A GGUF LoRA adapter (`general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`; tensors
    /// `blk.N.<proj>.weight.lora_a` `[rank × in]` and `.lora_b` `[out × rank]`, F32) for a model of
    /// `architecture` (the base GGUF's `general.architecture`).
    public static func adapter(_ lora: LoRA, config c: LlamaConfig, architecture: String, name: String) -> Data {
        var w = GGUFWriter()
        w.add("general.architecture", .string(architecture))
        w.add("general.type", .string("adapter"))
        w.add("general.name", .string(name))
        w.add("adapter.type", .string("lora"))
        w.add("adapter.lora.alpha", .float32(lora.config.alpha))
        for l in 0..<lora.a.count {
            for p in lora.config.targets {
                let a = lora.a[l][p]!, b = lora.b[l][p]!
                let base = tensorName(layer: l, projection: p)
                w.add(tensor: base + ".lora_a", rows: a.shape[0], columns: a.shape[1], values: a.value.array)
                w.add(tensor: base + ".lora_b", rows: b.shape[0], columns: b.shape[1], values: rows(b, p, config: c))
            }
        }
        return w.data()
    }

    /// A copy of `source` (the base model's GGUF) with `lora` folded into its weights: each adapted
    /// projection becomes F32 `W + (alpha/rank)·B·A` (W dequantized from the file); every other tensor and
    /// all metadata are copied as they are.
    public static func merged(_ lora: LoRA, config c: LlamaConfig, source: GGUFFile, name: String) throws -> Data {
        var w = GGUFWriter(alignment: source.alignment)
        for key in source.metadataKeys where key != "general.name" {
            w.add(key, source.metadata[key]!)
        }
        w.add("general.name", .string(name))
        var adapted: [String: (Int, Projection)] = [:]
        for l in 0..<lora.a.count { for p in lora.config.targets { adapted[tensorName(layer: l, projection: p)] = (l, p) } }
        for t in source.tensors {
            guard let (l, p) = adapted[t.name] else {
                w.add(tensor: t.name, dims: t.dims, type: t.type, data: Data(source.data(of: t)))
                continue
            }
            let (cols, rowsCount) = (t.dims[0], t.dims[1])
            var weight = [Float](repeating: 0, count: rowsCount * cols)
            weight.withUnsafeMutableBufferPointer { Dequantize.run(t.type, source.data(of: t), count: rowsCount * cols, into: $0.baseAddress!) }
            // delta = scale · B·A in llama.cpp's row order.
            let a = lora.a[l][p]!, r = lora.config.rank
            let b = rows(lora.b[l][p]!, p, config: c)
            guard a.shape == [r, cols], b.count == rowsCount * r else {
                throw GGUFExportError.shapeMismatch(t.name)
            }
            b.withUnsafeBufferPointer { bp in
                weight.withUnsafeMutableBufferPointer { wp in
                    BLAS.sgemm(
                        m: rowsCount, n: cols, k: r, alpha: lora.config.scale, a: bp.baseAddress!, lda: r,
                        b: a.value.pointer, ldb: cols, beta: 1, c: wp.baseAddress!, ldc: cols)
                }
            }
            w.add(tensor: t.name, rows: rowsCount, columns: cols, values: weight)
        }
        return w.data()
    }
}

public enum GGUFExportError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let t): "the LoRA does not fit \(t) of the base model's GGUF (another model?)"
        }
    }
}
