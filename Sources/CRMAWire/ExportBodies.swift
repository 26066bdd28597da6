import Foundation

/// `POST /v1/export`: one version's adapters in a format another tool reads.
public struct ExportRequest: Sendable, Equatable, Codable {
    /// `peft`: a Hugging Face PEFT directory for one domain's LoRA (`adapter_model.safetensors`,
    /// `adapter_config.json`) — the LoRA only, no CRMA substrate. `gguf`: the same LoRA as a llama.cpp GGUF
    /// adapter (`--lora`), or with `merged` folded into a copy of the base model's GGUF. `crma`: the
    /// version's whole adapter set (every LoRA and the substrate) in crma's safetensors format.
    public static let formats = ["peft", "gguf", "crma"]

    public var version: Int64
    /// The domain whose LoRA `peft` and `gguf` export (default: the domain the version learned).
    public var domain: String?
    public var format: String
    /// `gguf` only: a whole model with the LoRA folded into its weights instead of an adapter.
    public var merged: Bool?

    public init(version: Int64, domain: String? = nil, format: String, merged: Bool? = nil) {
        self.version = version
        self.domain = domain
        self.format = format
        self.merged = merged
    }
}

/// The files of an export, for the client to write where its user wants them (the daemon writes nothing).
public struct ExportResponse: Sendable, Equatable, Codable {
    public struct File: Sendable, Equatable, Codable {
        public var name: String
        /// The file's bytes, base64.
        public var base64: String
        public var sha256: String

        public init(name: String, base64: String, sha256: String) {
            self.name = name
            self.base64 = base64
            self.sha256 = sha256
        }
    }

    public var version: Int64
    public var domain: String?
    public var format: String
    public var files: [File]
    /// What the files carry and what they leave out, in words.
    public var carries: String

    public init(version: Int64, domain: String?, format: String, files: [File], carries: String) {
        self.version = version
        self.domain = domain
        self.format = format
        self.files = files
        self.carries = carries
    }
}
