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

        public var description: String {
            switch self {
            case .unknownFormat(let f):
                "unknown export format \"\(f)\"; use one of \(ExportRequest.formats.joined(separator: ", "))"
            case .baseModel(let v): "version \(v) is the base model: it has no adapters to export"
            case .notLearned(let d, let v, let learned):
                "version \(v) has not learned \"\(d)\" (its domains: \(learned.isEmpty ? "none" : learned.joined(separator: ", ")))"
            case .noLoRA(let d, let s): "\"\(d)\" is scored without a LoRA under \(s): nothing for PEFT; export --format crma"
            case .severalLoRAs(let d, let s, let n):
                "\"\(d)\" is scored by \(n) LoRAs at once under \(s), which one PEFT adapter cannot hold; export --format crma"
            }
        }
    }

    /// The files of `request` for version `v`; `state` loads the version's learned state, `blob` reads its
    /// adapter file as stored.
    static func response(
        _ request: ExportRequest, version v: VersionRecord, defaultStrategy: Strategy, baseModel: String,
        state: () throws -> LearnedState, blob: () throws -> Data
    ) throws -> ExportResponse {
        guard ExportRequest.formats.contains(request.format) else { throw Failure.unknownFormat(request.format) }
        guard v.adaptersHash != nil else { throw Failure.baseModel(v.id) }
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
        let files = try PEFTExport.files(lora, baseModel: baseModel).map { file($0.name, $0.data) }
        let c = lora.config
        let left =
            set.crma == nil
            ? "\(lineage.strategy) scores \(domain) with this LoRA alone: nothing is left out"
            : "not the CRMA substrate \(lineage.strategy) also scores \(domain) with (a residual adapter on each layer's output, which PEFT cannot express)"
        return ExportResponse(
            version: v.id, domain: domain, format: "peft", files: files,
            carries:
                "the LoRA that scores \(domain) in version \(v.id) (r \(c.rank), alpha \(c.alpha), \(c.targets.map(\.rawValue).joined(separator: ","))); \(left)"
        )
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
