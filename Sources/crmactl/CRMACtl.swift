import ArgumentParser
import CRMAWire
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
            70 daemon error · 73 cannot write the export · 77 not allowed (add your uid to control.allowed_uids).
            """,
        subcommands: [
            Status.self, Domains.self, Versions.self, Alerts.self, Matrix.self, Jobs.self, Watch.self, Rollback.self,
            Retry.self, Pause.self, Resume.self, Cancel.self, Generate.self, Score.self, Export.self,
        ])
}

struct Connection: ParsableArguments {
    @Option(help: "The control socket (default: $CRMAD_SOCKET or /run/crmad/crmad.sock).")
    var socket = ProcessInfo.processInfo.environment["CRMAD_SOCKET"] ?? "/run/crmad/crmad.sock"

    @Flag(help: "Print the daemon's JSON instead of a table.")
    var json = false

    var client: ControlClient { ControlClient(socket: socket) }

    /// Sends the request (with `body` as its JSON), then prints the daemon's JSON (`--json`; `renderJSON` of the
    /// answer instead when given) or `render` of the answer decoded as `Answer`, turning failures into a
    /// message on stderr and the documented exit code.
    func run<Answer: Decodable>(
        _ method: HTTPMethod, _ path: String, body: (any Encodable)? = nil,
        renderJSON: ((Answer) throws -> String)? = nil, render: (Answer) throws -> String
    ) throws {
        do {
            let data = try client.call(method, path, body: body)
            if json, let renderJSON {
                print(try renderJSON(try ControlClient.decode(Answer.self, from: data, path: path)))
            } else if json {
                print(try ControlClient.reindented(data))
            } else {
                print(try render(try ControlClient.decode(Answer.self, from: data, path: path)))
            }
        } catch let f as ControlClient.Failure {
            FileHandle.standardError.write(Data("\(f.description)\n".utf8))
            throw ExitCode(f.exitCode)
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Daemon state, active version, queue, and the running job's progress.")
    @OptionGroup var c: Connection
    func run() throws {
        try c.run(.GET, "/v1/status") { (s: DaemonStatus) in
            var lines = [
                "state           \(s.state)\(s.paused ? " (queue paused)" : "")",
                "active version  \(s.activeVersion)",
                "domains         \(s.domains)",
                "queued jobs     \(s.queueDepth)",
                "strategy        \(s.strategy)",
                "model           \(s.model)",
                "uptime          \(TextTable.duration(s.uptimeSeconds))",
            ]
            for j in s.jobs ?? s.job.map { [$0] } ?? [] { lines.append("job \(j.id)          \(TextTable.progress(j))") }
            if let e = s.lastError { lines.append("last error      \(e)") }
            return lines.joined(separator: "\n")
        }
    }
}

struct Domains: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Domains with their documents and holdout losses.")
    @OptionGroup var c: Connection
    func run() throws {
        try c.run(.GET, "/v1/domains") { (domains: [DomainRecord]) in
            let rows = domains.map { d -> [String] in
                let learned = d.learnedLoss, now = d.currentLoss
                let drift = learned.flatMap { l in now.map { String(format: "%+.2f%%", 100 * ($0 - l) / l) } } ?? "-"
                return [
                    d.name, "\(d.files)", "\(d.trainDocuments)", "\(d.holdoutDocuments)",
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
        try c.run(.GET, "/v1/versions") { (versions: [VersionRecord]) in
            let rows = versions.map { v -> [String] in
                // In the words the journal's alerts and the dashboard use.
                return [
                    "\(v.id)\(v.active ? " *" : "")", v.state, v.domain ?? "-", v.parentID.map { "\($0)" } ?? "-",
                    v.jobID.map { "\($0)" } ?? "-", TextTable.time(v.createdAt), v.reasons.map(\.sentence).joined(separator: "; "),
                ]
            }
            return TextTable.render(["VERSION", "STATE", "DOMAIN", "PARENT", "JOB", "CREATED", "GATE"], rows)
                + "\n(* = active)"
        }
    }
}

struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recent alerts (the journal has them too: journalctl -u crmad -p warning).")
    @OptionGroup var c: Connection
    @Option(help: "How many.") var limit = 20
    func run() throws {
        try c.run(.GET, "/v1/alerts?limit=\(limit)") { (alerts: [AlertRecord]) in
            let rows = alerts.map { [TextTable.time($0.time), $0.kind, $0.domain ?? "-", $0.message] }
            return TextTable.render(["TIME", "KIND", "DOMAIN", "MESSAGE"], rows)
        }
    }
}

struct Matrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The loss matrix of the active lineage: holdout loss of each domain after each update (drift in %).")
    @OptionGroup var c: Connection
    func run() throws {
        try c.run(.GET, "/v1/matrix") { (m: LossMatrixView) in
            let rows = m.rows.map { r -> [String] in
                ["v\(r.version) +\(r.learned ?? "")"]
                    + m.domains.map { d in
                        r.losses[d].map { String(format: "%.4f (%+.2f%%)", $0, r.driftPercent[d] ?? 0) } ?? "-"
                    }
            }
            return TextTable.render(["AFTER"] + m.domains, rows)
        }
    }
}

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Update jobs, newest first.")
    @OptionGroup var c: Connection
    @Option(help: "How many.") var limit = 20
    func run() throws {
        try c.run(.GET, "/v1/jobs?limit=\(limit)") { (jobs: [JobRecord]) in
            let rows = jobs.map {
                [
                    "\($0.id)", $0.domain, $0.state.rawValue, $0.strategy, "\($0.step)/\($0.totalSteps)",
                    $0.versionID.map { "\($0)" } ?? "-", $0.cluster.map { "slurm \($0.id)" } ?? "local", $0.message ?? "",
                ]
            }
            return TextTable.render(
                ["JOB", "DOMAIN", "STATE", "STRATEGY", "STEPS", "VERSION", "WHERE", "MESSAGE"], rows)
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
        let clear = interactive ? "\r\u{1B}[K" : ""
        // An event this crmactl does not know (a newer crmad) is printed as it came.
        switch try? JSONDecoder().decode(ControlEvent.self, from: Data(event.utf8)) {
        case .progress(let j):
            if interactive {
                print(clear + TextTable.progress(j), terminator: "")
            } else {
                print(TextTable.progress(j))
            }
        case .alert(let kind, let message): print(clear + "[\(kind)] \(message)")
        case .job(let id, let state): print(clear + "job \(id): \(state)")
        case .jobQueued(let id, let domain): print(clear + "queued job \(id) for \(domain)")
        case nil: print(event)
        }
        fflush(nil)
    }
}

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make an earlier accepted version active again.")
    @OptionGroup var c: Connection
    @Argument(help: "Version id (see crmactl versions; 1 is the base model).") var version: Int64
    func run() throws {
        try c.run(.POST, "/v1/rollback", body: RollbackRequest(version: version)) { (s: DaemonStatus) in
            "active version is now \(s.activeVersion)"
        }
    }
}

struct Retry: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Queue another update of a domain, optionally with another strategy.")
    @OptionGroup var c: Connection
    @Argument(help: "Domain.") var domain: String
    @Option(help: "\(RetryRequest.strategies.joined(separator: ", ")) (default: the configured one).")
    var strategy: String?
    func run() throws {
        try c.run(.POST, "/v1/retry", body: RetryRequest(domain: domain, strategy: strategy)) { (r: RetryResponse) in
            "queued job \(r.job)"
        }
    }
}

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop starting new jobs (a running job finishes; ingest continues).")
    @OptionGroup var c: Connection
    func run() throws { try c.run(.POST, "/v1/pause") { (_: DaemonStatus) in "queue paused" } }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start jobs again.")
    @OptionGroup var c: Connection
    func run() throws { try c.run(.POST, "/v1/resume") { (_: DaemonStatus) in "queue resumed" } }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a queued job, or a training one at its next step (an evaluating one is refused: exit 65).")
    @OptionGroup var c: Connection
    @Argument(help: "Job id (see crmactl jobs).") var job: Int64
    func run() throws {
        try c.run(.POST, "/v1/jobs/\(job)/cancel") { (r: CancelResponse) in "job \(job): \(r.state)" }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a prompt with the active version (greedy), routed to the domain it belongs to.",
        discussion: """
            The prompt goes to the learned domain whose adapters should answer it, as the inference API's model \
            `crma` routes (the base model answers what no domain claims); --model crma:<domain> or base picks the \
            adapters instead. The answering adapters are printed on stderr.
            """)
    @OptionGroup var c: Connection
    @Argument(help: "Prompt.") var prompt: String
    @Option(help: "Tokens at most (1...128).") var maxTokens = 32
    @Option(help: "Adapters: crma (routed), crma:<domain>, or base.") var model = "crma"
    func run() throws {
        try c.run(.POST, "/v1/generate", body: GenerateRequest(prompt: prompt, maxTokens: maxTokens, model: model)) {
            (g: GenerateResponse) in
            if let m = g.model { FileHandle.standardError.write(Data("[\(m)]\n".utf8)) }
            return g.text
        }
    }
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Loss and perplexity of a text under the active version.")
    @OptionGroup var c: Connection
    @Argument(help: "Text (or - to read stdin).") var text: String
    func run() throws {
        let t = text == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : text
        try c.run(.POST, "/v1/score", body: ScoreRequest(text: t)) { (s: ScoreResponse) in
            String(format: "loss %.4f nats/token  perplexity %.2f  (%d tokens)", s.loss, s.perplexity, s.tokens)
        }
    }
}
