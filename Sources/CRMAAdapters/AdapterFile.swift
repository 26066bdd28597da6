import CRMAModel
import CRMANumerics
import Foundation

/// Saves and loads adapters as safetensors, with a JSON description in the header metadata
/// (`crma.adapters`): each LoRA's name and configuration and the CRMA configuration.
///
/// Tensor names: `lora.<name>.layers.<l>.<projection>.lora_A` (`[rank × in]`), `…lora_B` (`[out × rank]`),
/// `crma.layers.<l>.crma.{R,W,log_mix,log_alpha}`.
public enum AdapterFile {
    public struct Description: Codable, Equatable, Sendable {
        public struct LoRAEntry: Codable, Equatable, Sendable {
            public var name: String
            public var config: LoRAConfig
        }
        public var format = "crma-adapters-1"
        public var loras: [LoRAEntry]
        public var crma: CRMAConfig?
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "adapter file: \(reason)" }
    }

    /// Writes `loras` and `crma`, plus `extra` tensors (1-D, by name; e.g. EWC's Fisher under `ewc.`)
    /// that ride along with the adapters they describe; ``extraTensors(_:prefix:)`` reads them back.
    public static func save(loras: [LoRA], crma: CRMA?, extra: [(name: String, values: [Float])] = [], to path: String)
        throws
    {
        let desc = Description(loras: loras.map { .init(name: $0.name, config: $0.config) }, crma: crma?.config)
        var w = SafetensorsWriter(metadata: [
            "crma.adapters": String(decoding: try JSONEncoder().encode(desc), as: UTF8.self)
        ])
        for lora in loras {
            for p in lora.parameters { w.add("lora.\(lora.name).\(p.name)", shape: p.shape, values: p.value.array) }
        }
        if let crma {
            for p in crma.parameters { w.add("crma.\(p.name)", shape: p.shape, values: p.value.array) }
        }
        for e in extra { w.add(e.name, shape: [e.values.count], values: e.values) }
        try w.write(to: path)
    }

    /// The extra tensors of an adapter file whose names start with `prefix`, by name.
    public static func extraTensors(_ path: String, prefix: String) throws -> [String: [Float]] {
        let file = try SafetensorsFile(path: path)
        var out: [String: [Float]] = [:]
        for name in file.tensors.keys where name.hasPrefix(prefix) {
            guard let values = try file.floats(name) else { throw FormatError(reason: "\(path): tensor \(name) is not float") }
            out[name] = values
        }
        return out
    }

    /// Loads every adapter in the file for `model` (frozen: callers mark the one to train).
    public static func load(_ path: String, model: LlamaModel) throws -> (loras: [LoRA], crma: CRMA?) {
        let file = try SafetensorsFile(path: path)
        guard let json = file.metadata["crma.adapters"],
            let desc = try? JSONDecoder().decode(Description.self, from: Data(json.utf8))
        else { throw FormatError(reason: "\(path) has no crma.adapters description") }
        func fill(_ p: Parameter, _ name: String) throws {
            guard let values = try file.floats(name), values.count == p.count else {
                throw FormatError(reason: "\(path): tensor \(name) is missing or has the wrong size for this model")
            }
            values.withUnsafeBufferPointer { p.value.pointer.update(from: $0.baseAddress!, count: values.count) }
        }
        var loras: [LoRA] = []
        for e in desc.loras {
            let lora = LoRA(name: e.name, config: e.config, model: model.config, seed: 0, trainable: false)
            for p in lora.parameters { try fill(p, "lora.\(e.name).\(p.name)") }
            loras.append(lora)
        }
        var crma: CRMA?
        if let cfg = desc.crma {
            let c = CRMA(config: cfg, model: model, seed: 0)
            for p in c.parameters { try fill(p, "crma.\(p.name)") }
            crma = c
        }
        return (loras, crma)
    }
}

/// Hugging Face PEFT export of a LoRA: `adapter_model.safetensors` with PEFT's tensor names and
/// `adapter_config.json`, loadable with `PeftModel.from_pretrained(base, dir)`.
public enum PEFTExport {
    public static func tensorName(layer: Int, projection: Projection, matrix: String) -> String {
        "base_model.model.model.layers.\(layer).\(projection.moduleName).lora_\(matrix).weight"
    }

    /// The directory's files: `adapter_model.safetensors` and `adapter_config.json`, by name.
    public static func files(_ lora: LoRA, baseModel: String) throws -> [(name: String, data: Data)] {
        var w = SafetensorsWriter(metadata: ["format": "pt"])
        for l in 0..<lora.a.count {
            for p in lora.config.targets {
                let a = lora.a[l][p]!, b = lora.b[l][p]!
                w.add(tensorName(layer: l, projection: p, matrix: "A"), shape: a.shape, values: a.value.array)
                w.add(tensorName(layer: l, projection: p, matrix: "B"), shape: b.shape, values: b.value.array)
            }
        }
        let config: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": baseModel,
            "r": lora.config.rank, "lora_alpha": lora.config.alpha, "lora_dropout": 0.0, "bias": "none",
            "fan_in_fan_out": false, "inference_mode": true, "use_rslora": false, "init_lora_weights": true,
            "target_modules": lora.config.targets.map { "\($0.rawValue)_proj" },
        ]
        return [
            ("adapter_model.safetensors", try w.data()),
            ("adapter_config.json", try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])),
        ]
    }

    public static func write(_ lora: LoRA, baseModel: String, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for f in try files(lora, baseModel: baseModel) {
            try AtomicFile.write(f.data, to: (directory as NSString).appendingPathComponent(f.name))
        }
    }
}

extension LoRA {
    /// `model`'s fp32 weights with this LoRA merged in (`W + (alpha/rank)·B·A` for every target); the
    /// model is untouched. A bf16 or quantized model's projections are widened to fp32 first.
    public func merged(into model: LlamaModel) -> LlamaWeights {
        func copy(_ b: FloatBuffer) -> FloatBuffer { FloatBuffer(b.array) }
        let weights = model.weights, c = model.config
        var layers: [LlamaLayerWeights] = []
        for (l, w) in weights.layers.enumerated() {
            let qkv = copy(model.frozenWeight(.qkv, layer: l)), wo = copy(model.frozenWeight(.wo, layer: l))
            let gateUp = copy(model.frozenWeight(.gateUp, layer: l)), down = copy(model.frozenWeight(.down, layer: l))
            for p in config.targets {
                let (inF, outF) = Self.shape(p, c)
                let (buffer, rowOffset): (FloatBuffer, Int) =
                    switch p {
                    case .q: (qkv, 0)
                    case .k: (qkv, c.qSize)
                    case .v: (qkv, c.qSize + c.kvSize)
                    case .o: (wo, 0)
                    case .gate: (gateUp, 0)
                    case .up: (gateUp, c.ffnSize)
                    case .down: (down, 0)
                    }
                // W[out × in] += s · B[out × r] · A[r × in]
                BLAS.sgemm(
                    m: outF, n: inF, k: config.rank, alpha: config.scale, a: b[l][p]!.value.pointer, lda: config.rank,
                    b: a[l][p]!.value.pointer, ldb: inF, beta: 1, c: buffer.pointer + rowOffset * inF, ldc: inF)
            }
            layers.append(w.replacingMatrices(qkv: qkv, wo: wo, gateUp: gateUp, down: down))
        }
        let embedding = model.frozenEmbedding()
        return LlamaWeights(
            embedding: embedding, layers: layers, finalNorm: weights.finalNorm,
            outputHead: c.tiedEmbeddings ? embedding : model.frozenHead())
    }
}
