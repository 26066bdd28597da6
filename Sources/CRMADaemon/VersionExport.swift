import CRMAAdapters
import CRMAContinual
import CRMAModel
import CRMAWire
import Foundation

/// `POST /v1/export` (`crmactl export`): one version's adapters as files another tool reads. The daemon
/// sends them; the client writes them where its user wants (crmad writes nothing outside its state).
public enum VersionExport {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unknownFormat(String)
        case baseModel(Int64)
        case notLearned(domain: String, version: Int64, learned: [String])
        case noLoRA(domain: String, strategy: String)
        case severalLoRAs(domain: String, strategy: String, count: Int)
        case mergedNeedsGGUF(format: String, baseModel: String)

        public var description: String {
            switch self {
            case .unknownFormat(let f):
                "unknown export format \"\(f)\"; use one of \(ExportRequest.formats.joined(separator: ", "))"
            case .baseModel(let v): "version \(v) is the base model: it has no adapters to export"
            case .notLearned(let d, let v, let learned):
                "version \(v) has not learned \"\(d)\" (its domains: \(learned.isEmpty ? "none" : learned.joined(separator: ", ")))"
            case .noLoRA(let d, let s): "\"\(d)\" is scored without a LoRA under \(s): nothing for PEFT or llama.cpp; export --format crma"
            case .severalLoRAs(let d, let s, let n):
                "\"\(d)\" is scored by \(n) LoRAs at once under \(s), which one adapter file cannot hold; export --format crma"
            case .mergedNeedsGGUF(let f, let base):
                f == "gguf"
                    ? "--merged folds the LoRA into the base model's GGUF, and the base model \(base) is not a GGUF file"
                    : "--merged goes with --format gguf"
            }
        }
    }

    /// The files of `request` for version `v`; `state` loads the version's learned state, `blob` reads its
    /// adapter file as stored.
    static func response(
        _ request: ExportRequest, version v: VersionRecord, defaultStrategy: Strategy, baseModel: String,
        config: LlamaConfig, state: () throws -> LearnedState, blob: () throws -> Data
    ) throws -> ExportResponse {
        guard ExportRequest.formats.contains(request.format) else { throw Failure.unknownFormat(request.format) }
        guard v.adaptersHash != nil else { throw Failure.baseModel(v.id) }
        if request.merged == true, request.format != "gguf" || !baseModel.hasSuffix(".gguf") {
            throw Failure.mergedNeedsGGUF(format: request.format, baseModel: baseModel)
        }
        let learned = v.lineage.keys.sorted()
        if request.format == "crma" {
            if let d = request.domain, v.lineage[d] == nil {
                throw Failure.notLearned(domain: d, version: v.id, learned: learned)
            }
            return ExportResponse(
                version: v.id, domain: request.domain, format: "crma", files: [file("adapters.safetensors", try blob())],
                carries:
                    "every adapter of version \(v.id) (domains \(learned.joined(separator: ", "))): each LoRA and the CRMA substrate, in crma's adapter file format (README, Adapter files)"
            )
        }
        let domain = request.domain ?? v.domain ?? ""
        guard let lineage = v.lineage[domain] else { throw Failure.notLearned(domain: domain, version: v.id, learned: learned) }
        let strategy = v.strategy(of: domain, default: defaultStrategy)
        let set = try state().adapters(scoring: domain, learnedWith: strategy)
        guard let lora = set.loras.first else { throw Failure.noLoRA(domain: domain, strategy: lineage.strategy) }
        guard set.loras.count == 1 else {
            throw Failure.severalLoRAs(domain: domain, strategy: lineage.strategy, count: set.loras.count)
        }
        let c = lora.config
        let left =
            set.crma == nil
            ? "\(lineage.strategy) scores \(domain) with this LoRA alone: nothing is left out"
            : "not the CRMA substrate \(lineage.strategy) also scores \(domain) with (a residual adapter on each layer's output, which neither PEFT nor llama.cpp can express)"
        let what = "the LoRA that scores \(domain) in version \(v.id) (r \(c.rank), alpha \(c.alpha), \(c.targets.map(\.rawValue).joined(separator: ",")))"
        let files: [ExportResponse.File]
        var carries = "\(what); \(left)"
        switch request.format {
        case "gguf":
            let name = "\(domain)-v\(v.id)"
            let source = baseModel.hasSuffix(".gguf") ? try GGUFFile(path: baseModel) : nil
            let architecture = source?.metadata["general.architecture"]?.string ?? "llama"
            if request.merged == true, let source {
                files = [file("\(name)-merged.gguf", try GGUFExport.merged(lora, config: config, source: source, name: name))]
                carries = "the base model \((baseModel as NSString).lastPathComponent) with \(what) folded into its weights (those projections in F32, every other tensor as it was); \(left)"
            } else {
                files = [file("\(name)-lora.gguf", GGUFExport.adapter(lora, config: config, architecture: architecture, name: name))]
                carries = "\(what), as a llama.cpp adapter (--lora); \(left)"
            }
        default:
            files = try PEFTExport.files(lora, baseModel: baseModel).map { file($0.name, $0.data) }
        }
        return ExportResponse(version: v.id, domain: domain, format: request.format, files: files, carries: carries)
    }

    static func file(_ name: String, _ data: Data) -> ExportResponse.File {
        var h = SHA256()
        h.update(data)
        return ExportResponse.File(name: name, base64: data.base64EncodedString(), sha256: SHA256.hex(h.finalize()))
    }
}

extension VersionRecord {
    /// The strategy `domain` was learned with in this version's lineage (`fallback` for records from before
    /// lineages were kept).
    func strategy(of domain: String, default fallback: Strategy) -> Strategy {
        lineage[domain].flatMap { Strategy(rawValue: $0.strategy) } ?? fallback
    }
}
