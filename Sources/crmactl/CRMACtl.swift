import ArgumentParser
import Foundation
import NIOHTTP1

/// crmactl: the operator's view of crmad over its control socket.
@main
struct CRMACtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmactl",
        abstract: "Query and steer the crmad continual-learning daemon.",
        discussion: """
            Talks HTTP/1.1 + JSON to crmad's Unix socket (the same API curl --unix-socket reaches). Tables by \
            default, --json for scripts. Alerts are also in the journal: journalctl -u crmad -p warning.

            Exit codes: 0 ok · 65 request refused · 66 no such version/job/domain · 69 crmad not reachable · \
            70 daemon error · 77 not allowed (add your uid to control.allowed_uids).
            """,
        subcommands: [
            Status.self, Domains.self, Versions.self, Alerts.self, Matrix.self, Jobs.self, Watch.self, Rollback.self,
            Retry.self, Pause.self, Resume.self, Cancel.self, Generate.self, Score.self,
        ])
}

struct Connection: ParsableArguments {
    @Option(help: "The control socket (default: $CRMAD_SOCKET or /run/crmad/crmad.sock).")
    var socket = ProcessInfo.processInfo.environment["CRMAD_SOCKET"] ?? "/run/crmad/crmad.sock"

    @Flag(help: "Print the daemon's JSON instead of a table.")
    var json = false

    var client: ControlClient { ControlClient(socket: socket) }

    /// Runs `body`, turning failures into a message on stderr and the documented exit code.
    func run(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil, render: (Any) -> String) throws {
        do {
            let object = try client.call(method, path, json: body)
            if json {
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(render(object))
            }
        } catch let f as ControlClient.Failure {
            FileHandle.standardError.write(Data("\(f.description)\n".utf8))
            throw ExitCode(f.exitCode)
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Daemon state, active version, queue, and the running job's progress.")
    @OptionGroup var c: Connection
    func run() throws {
        try c.run(.GET, "/v1/status") { o in
            let s = o as? [String: Any] ?? [:]
            var lines = [
                "state           \(s["state"] ?? "?")\((s["paused"] as? Bool) == true ? " (queue paused)" : "")",
                "active version  \(s["activeVersion"] ?? "?")",
                "domains         \(s["domains"] ?? 0)",
                "queued jobs     \(s["queueDepth"] ?? 0)",
                "strategy        \(s["strategy"] ?? "?")",
                "model           \(s["model"] ?? "?")",
                "uptime          \(TextTable.duration(s["uptimeSeconds"] as? Double ?? 0))",
            ]
            if let j = s["job"] as? [String: Any] { lines.append("job \(j["id"] ?? "?")          \(TextTable.progress(j))") }
            if let e = s["lastError"] as? String { lines.append("last error      \(e)") }
            return lines.joined(separator: "\n")
        }
    }
}

struct Domains: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Domains with their documents and holdout losses.")
    @OptionGroup var c: Connection
    func run() throws {
        try c.run(.GET, "/v1/domains") { o in
            let rows = (o as? [[String: Any]] ?? []).map { d -> [String] in
                let learned = d["learnedLoss"] as? Double, now = d["currentLoss"] as? Double
                let drift = learned.flatMap { l in now.map { String(format: "%+.2f%%", 100 * ($0 - l) / l) } } ?? "-"
                return [
                    "\(d["name"] ?? "")", "\(d["files"] ?? 0)", "\(d["trainDocuments"] ?? 0)", "\(d["holdoutDocuments"] ?? 0)",
                    TextTable.number(learned), TextTable.number(now), drift,
                ]
            }
            return TextTable.render(["DOMAIN", "FILES", "TRAIN", "HOLDOUT", "LOSS@LEARN", "LOSS NOW", "DRIFT"], rows)
        }
    }
}

struct Versions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every version: lineage, state and why.")
    @OptionGroup var c: Connection
    func run() throws {
        try c.run(.GET, "/v1/versions") { o in
            let rows = (o as? [[String: Any]] ?? []).map { v -> [String] in
                let reasons = (v["reasons"] as? [[String: Any]] ?? []).map {
                    "\($0["metric"] ?? "") \(String(format: "%+.2f%%", $0["degradationPercent"] as? Double ?? 0)) (\($0["severity"] ?? ""))"
                }
                return [
                    "\(v["id"] ?? "")\((v["active"] as? Bool) == true ? " *" : "")", "\(v["state"] ?? "")",
                    "\(v["domain"] ?? "-")", "\(v["parentID"] ?? "-")", "\(v["jobID"] ?? "-")", TextTable.time(v["createdAt"]),
                    reasons.joined(separator: "; "),
                ]
            }
            return TextTable.render(["VERSION", "STATE", "DOMAIN", "PARENT", "JOB", "CREATED", "GATE"], rows)
                + "\n(* = active)"
        }
    }
}

struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Recent alerts (the journal has them too: journalctl -u crmad -p warning).")
    @OptionGroup var c: Connection
    @Option(help: "How many.") var limit = 20
    func run() throws {
        try c.run(.GET, "/v1/alerts?limit=\(limit)") { o in
            let rows = (o as? [[String: Any]] ?? []).map {
                [TextTable.time($0["time"]), "\($0["kind"] ?? "")", "\($0["domain"] ?? "-")", "\($0["message"] ?? "")"]
            }
            return TextTable.render(["TIME", "KIND", "DOMAIN", "MESSAGE"], rows)
        }
    }
}

struct Matrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The loss matrix of the active lineage: holdout loss of each domain after each update (drift in %).")
    @OptionGroup var c: Connection
    func run() throws {
        try c.run(.GET, "/v1/matrix") { o in
            let m = o as? [String: Any] ?? [:]
            let domains = m["domains"] as? [String] ?? []
            let rows = (m["rows"] as? [[String: Any]] ?? []).map { r -> [String] in
                let losses = r["losses"] as? [String: Double] ?? [:], drift = r["driftPercent"] as? [String: Double] ?? [:]
                return ["v\(r["version"] ?? "") +\(r["learned"] ?? "")"]
                    + domains.map { d in
                        losses[d].map { String(format: "%.4f (%+.2f%%)", $0, drift[d] ?? 0) } ?? "-"
                    }
            }
            return TextTable.render(["AFTER"] + domains, rows)
        }
    }
}

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Update jobs, newest first.")
    @OptionGroup var c: Connection
    @Option(help: "How many.") var limit = 20
    func run() throws {
        try c.run(.GET, "/v1/jobs?limit=\(limit)") { o in
            let rows = (o as? [[String: Any]] ?? []).map {
                [
                    "\($0["id"] ?? "")", "\($0["domain"] ?? "")", "\($0["state"] ?? "")", "\($0["strategy"] ?? "")",
                    "\($0["step"] ?? 0)/\($0["totalSteps"] ?? 0)", "\($0["versionID"] ?? "-")", "\($0["message"] ?? "")",
                ]
            }
            return TextTable.render(["JOB", "DOMAIN", "STATE", "STRATEGY", "STEPS", "VERSION", "MESSAGE"], rows)
        }
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow training progress (bar with ETA), job changes and alerts live; Ctrl-C to stop.")
    @OptionGroup var c: Connection
    func run() throws {
        let interactive = isatty(1) == 1
        let json = c.json
        let pending = ControlClient.Buffer()
        do {
            _ = try c.client.send(.GET, "/v1/events") { chunk in
                pending.append(chunk)
                // Events are "data: {json}\n\n"; print each complete one.
                var text = String(decoding: pending.data, as: UTF8.self)
                while let r = text.range(of: "\n\n") {
                    let event = String(text[..<r.lowerBound]).replacingOccurrences(of: "data: ", with: "")
                    text = String(text[r.upperBound...])
                    Watch.show(event, interactive: interactive, json: json)
                }
                pending.reset(String(text).data(using: .utf8)!)
            }
        } catch let f as ControlClient.Failure {
            FileHandle.standardError.write(Data("\(f.description)\n".utf8))
            throw ExitCode(f.exitCode)
        }
    }

    static func show(_ event: String, interactive: Bool, json: Bool) {
        if json {
            print(event)
            fflush(nil)
            return
        }
        guard let o = try? JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any] else { return }
        switch o["event"] as? String {
        case "progress":
            guard let j = o["job"] as? [String: Any] else { return }
            if interactive {
                print("\r\u{1B}[K" + TextTable.progress(j), terminator: "")
            } else {
                print(TextTable.progress(j))
            }
        case "alert": print((interactive ? "\r\u{1B}[K" : "") + "[\(o["kind"] ?? "alert")] \(o["message"] ?? "")")
        case "job": print((interactive ? "\r\u{1B}[K" : "") + "job \(o["job"] ?? "?"): \(o["state"] ?? "?")")
        case "job_queued": print((interactive ? "\r\u{1B}[K" : "") + "queued job \(o["job"] ?? "?") for \(o["domain"] ?? "?")")
        default: print(event)
        }
        fflush(nil)
    }
}

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make an earlier accepted version active again.")
    @OptionGroup var c: Connection
    @Argument(help: "Version id (see crmactl versions; 1 is the base model).") var version: Int64
    func run() throws {
        try c.run(.POST, "/v1/rollback", body: ["version": version]) { o in
            "active version is now \((o as? [String: Any])?["activeVersion"] ?? "?")"
        }
    }
}

struct Retry: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Queue another update of a domain, optionally with another strategy.")
    @OptionGroup var c: Connection
    @Argument(help: "Domain.") var domain: String
    @Option(help: "crma, crma-identity, frozen or naive (default: the configured one).") var strategy: String?
    func run() throws {
        var body: [String: Any] = ["domain": domain]
        if let strategy { body["strategy"] = strategy }
        try c.run(.POST, "/v1/retry", body: body) { o in "queued job \((o as? [String: Any])?["job"] ?? "?")" }
    }
}

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop starting new jobs (a running job finishes; ingest continues).")
    @OptionGroup var c: Connection
    func run() throws { try c.run(.POST, "/v1/pause") { _ in "queue paused" } }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start jobs again.")
    @OptionGroup var c: Connection
    func run() throws { try c.run(.POST, "/v1/resume") { _ in "queue resumed" } }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a queued job, or a running one at its next step.")
    @OptionGroup var c: Connection
    @Argument(help: "Job id (see crmactl jobs).") var job: Int64
    func run() throws {
        try c.run(.POST, "/v1/jobs/\(job)/cancel") { o in "job \(job): \((o as? [String: Any])?["state"] ?? "?")" }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Answer a prompt with the active version (greedy).")
    @OptionGroup var c: Connection
    @Argument(help: "Prompt.") var prompt: String
    @Option(help: "Tokens at most (1...128).") var maxTokens = 32
    func run() throws {
        try c.run(.POST, "/v1/generate", body: ["prompt": prompt, "max_tokens": maxTokens]) { o in
            (o as? [String: Any])?["text"] as? String ?? ""
        }
    }
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Loss and perplexity of a text under the active version.")
    @OptionGroup var c: Connection
    @Argument(help: "Text (or - to read stdin).") var text: String
    func run() throws {
        let t = text == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : text
        try c.run(.POST, "/v1/score", body: ["text": t]) { o in
            let s = o as? [String: Any] ?? [:]
            return String(
                format: "loss %.4f nats/token  perplexity %.2f  (%d tokens)", s["loss"] as? Double ?? .nan,
                s["perplexity"] as? Double ?? .nan, s["tokens"] as? Int ?? 0)
        }
    }
}
