import ArgumentParser
import CRMAWire
import Foundation
import NIOHTTP1

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a version's adapters as files another tool loads.",
        discussion: """
            --format peft: a Hugging Face PEFT directory (adapter_model.safetensors, adapter_config.json) with the \
            LoRA that scores --domain (default: the domain the version learned); load it with \
            PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), DIR) on the Hugging Face \
            checkpoint of the base model. It carries the LoRA only: the CRMA substrate is a residual adapter on \
            each layer's output, which PEFT cannot express, so a domain learned with crma loses what the \
            substrate adds (the summary line says which). A domain scored by several LoRAs at once (olora) \
            cannot be one PEFT adapter.
            --format gguf: the same LoRA as a llama.cpp adapter (<domain>-v<N>-lora.gguf; llama-cli -m BASE.gguf \
            --lora FILE), or with --merged a copy of the base model's GGUF with the LoRA folded into its weights \
            (<domain>-v<N>-merged.gguf, runs without --lora; needs a GGUF base model). Like peft, the LoRA only.
            --format crma: the version's whole adapter set — every LoRA and the substrate — as one safetensors \
            file in crma's documented format (README, Adapter files).
            crmad sends the files; crmactl writes them into --out as the user who runs it, and never overwrites a \
            file unless --force. Needs the permission of the calls that change state (control.allowed_uids).
            """)
    @OptionGroup var c: Connection
    @Argument(help: "Version id (see crmactl versions).") var version: Int64
    @Option(help: "\(ExportRequest.formats.joined(separator: " or ")).") var format: String
    @Option(help: "The domain whose LoRA to export (peft, gguf; default: the version's own).") var domain: String?
    @Flag(help: "gguf: write the base model with the LoRA folded in instead of an adapter.") var merged = false
    @Option(help: "Directory to write into (created if missing).") var out: String
    @Flag(help: "Overwrite files that exist.") var force = false

    func validate() throws {
        guard ExportRequest.formats.contains(format) else {
            throw ValidationError("--format must be \(ExportRequest.formats.joined(separator: " or "))")
        }
        if merged, format != "gguf" { throw ValidationError("--merged goes with --format gguf") }
    }

    func run() throws {
        do {
            // --json prints what was written (paths, sizes, hashes), not the files' bytes again.
            try c.run(
                .POST, "/v1/export", body: ExportRequest(version: version, domain: domain, format: format, merged: merged ? true : nil),
                renderJSON: { (r: ExportResponse) in try summaryJSON(r, written: try write(r)) },
                render: { (r: ExportResponse) in summary(r, written: try write(r)) })
        } catch let e as ExportWriteError {
            FileHandle.standardError.write(Data("crmactl: \(e)\n".utf8))
            throw ExitCode(73)  // EX_CANTCREAT
        }
    }

    /// Writes the files (each to a temporary name, then renamed): `(path, bytes, sha256)` of each.
    func write(_ r: ExportResponse) throws -> [(path: String, bytes: Int, sha256: String)] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        var written: [(path: String, bytes: Int, sha256: String)] = []
        let paths = r.files.map { (out as NSString).appendingPathComponent($0.name) }
        if !force, let existing = paths.first(where: { fm.fileExists(atPath: $0) }) {
            throw ExportWriteError(reason: "\(existing) exists; pass --force to overwrite it")
        }
        for (f, path) in zip(r.files, paths) {
            guard let data = Data(base64Encoded: f.base64) else {
                throw ExportWriteError(reason: "crmad sent \(f.name) in a form that is not base64")
            }
            let tmp = path + ".partial"
            try data.write(to: URL(fileURLWithPath: tmp))
            _ = try? fm.removeItem(atPath: path)
            try fm.moveItem(atPath: tmp, toPath: path)
            written.append((path, data.count, f.sha256))
        }
        return written
    }

    func summary(_ r: ExportResponse, written: [(path: String, bytes: Int, sha256: String)]) -> String {
        (written.map { "wrote \($0.path) (\($0.bytes) bytes, sha256 \($0.sha256))" }
            + ["version \(r.version)\(r.domain.map { ", domain \($0)" } ?? ""), \(r.format): \(r.carries)"])
            .joined(separator: "\n")
    }

    func summaryJSON(_ r: ExportResponse, written: [(path: String, bytes: Int, sha256: String)]) throws -> String {
        let o: [String: Any] = [
            "version": r.version, "domain": r.domain ?? NSNull(), "format": r.format, "carries": r.carries,
            "files": written.map { ["path": $0.path, "bytes": $0.bytes, "sha256": $0.sha256] },
        ]
        let data = try JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

struct ExportWriteError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
