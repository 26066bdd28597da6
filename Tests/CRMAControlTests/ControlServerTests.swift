import CRMAContinual
import CRMADaemon
import CRMAModel
import CRMAWire
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Testing
@testable import CRMAControl

/// A daemon stand-in: canned state, and the errors the real daemon throws for what does not exist or may
/// not be done now.
struct FakeDaemon: ControlAPI {
    let started = Date(timeIntervalSince1970: 1_796_000_000)
    let defaultStrategy = Strategy.crma
    static let versions = [
        VersionRecord(
            id: 1, parentID: nil, domain: nil, jobID: nil, state: "base", adaptersHash: nil, configHash: "",
            dataHashes: [], references: [:], losses: [:], general: [:], reasons: [], createdAt: 1_796_000_000,
            active: false),
        VersionRecord(
            id: 2, parentID: 1, domain: "medical", jobID: 1, state: "accepted", adaptersHash: "h", configHash: "c",
            dataHashes: [], references: ["medical": 2.5], losses: ["medical": 2.5], general: [:], reasons: [],
            createdAt: 1_796_000_100, active: true),
        VersionRecord(
            id: 3, parentID: 2, domain: "legal", jobID: 2, state: "rolled_back", adaptersHash: "h3", configHash: "c",
            dataHashes: [], references: ["medical": 2.5], losses: ["medical": 3.1], general: [:],
            reasons: [
                GateReasonRecord(
                    severity: .critical, metric: .holdout(domain: "medical"), value: 3.1, reference: 2.5,
                    degradationPercent: 24, thresholdPercent: 10)
            ], createdAt: 1_796_000_200, active: false),
    ]

    func status() -> DaemonStatus {
        DaemonStatus(
            state: "idle", paused: false, activeVersion: 2, domains: 1, queueDepth: 0, job: nil, model: "tiny",
            strategy: "crma", uptimeSeconds: 61, lastError: nil)
    }
    func domains() throws -> [DomainRecord] { [] }
    func versions() throws -> [VersionRecord] { Self.versions }
    func version(_ id: Int64) throws -> VersionRecord? { Self.versions.first { $0.id == id } }
    func alerts(limit: Int) throws -> [AlertRecord] { [] }
    func jobs(limit: Int) throws -> [JobRecord] { [] }
    func rejectedFileCount() -> Int { 0 }
    func subscribe() -> AsyncStream<String> { AsyncStream { $0.finish() } }
    func pause() throws {}
    func resume() throws {}
    func rollback(to version: Int64) throws {
        guard let v = Self.versions.first(where: { $0.id == version }) else { throw RegistryError.noSuchVersion(version) }
        if v.state == "rolled_back" { throw RegistryError.notAccepted(version) }
    }
    func retry(domain: String, strategy: Strategy) throws -> Int64 { throw JobControlError.noSuchDomain(domain) }
    func cancel(job id: Int64) throws -> JobState {
        if id == 7 { throw JobControlError.evaluating(7) }
        throw RegistryError.noSuchJob(id)
    }
    func export(_ request: ExportRequest) async throws -> ExportResponse { throw RegistryError.noSuchVersion(request.version) }
    func generate(_ request: GenerateRequest, maxTokens: Int) async throws -> GenerateResponse {
        GenerateResponse(text: "ok", tokens: 1, stop: "end_of_turn", model: "crma:medical")
    }
    func score(_ text: String) async throws -> ScoreResponse? { nil }
    func servedModels() throws -> [String] { ["base", "crma", "crma:medical"] }
    func plan(_ r: ChatCompletionRequest) throws -> InferencePlan { throw ModelQueueError.full(16) }
    func plan(_ r: CompletionRequest) throws -> [InferencePlan] { throw ModelQueueError.deadline(waited: 301, limit: 300) }
    func complete(_ plan: InferencePlan) async throws -> (model: String, completion: TextCompletion) {
        throw ModelQueueError.full(16)
    }
    func stream(_ plan: InferencePlan, into events: AsyncStream<InferenceEvent>.Continuation) throws {
        throw ModelQueueError.full(16)
    }
    func completionLogprobs(_ c: TextCompletion, plan: InferencePlan) -> CompletionLogprobs? { nil }
    func chatLogprobs(_ c: TextCompletion) -> ChatLogprobs? { nil }
    func tokenizerInfo() -> TokenizerInfo {
        TokenizerInfo(
            eosToken: "<eos>", bosToken: nil, padToken: "<eos>", chatTemplate: nil, modelMaxLength: 2048, vocabularySize: 32,
            tokenizerClass: "fake")
    }
    func tokenize(_ r: TokenizeRequest) throws -> TokenizeResponse { TokenizeResponse(tokens: [1, 2], maxModelLength: 2048) }
    func detokenize(_ r: DetokenizeRequest) throws -> DetokenizeResponse { DetokenizeResponse(prompt: "ab") }
}

/// Runs blocking work (socket reads, waiting for crmactl) on a dispatch thread. Blocked on Swift's
/// cooperative pool (as wide as the cores), two tests waiting at once would leave no thread for the
/// server's handlers to answer them.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { done in
        DispatchQueue.global().async { done.resume(with: Result { try work() }) }
    }
}

/// The control server on a real Unix socket in this process, in front of ``FakeDaemon``.
final class RunningServer: Sendable {
    let socket: String
    let group: ServiceGroup
    let task: Task<Void, any Error>

    init() async throws {
        socket = NSTemporaryDirectory() + "crma-ctl-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = ControlServer(
            api: FakeDaemon(),
            settings: .init(socket: socket, socketMode: 0o660, idleTimeoutSeconds: 5, allowedUIDs: [], allowedGIDs: []),
            logger: logger)
        let group = ServiceGroup(services: [try server.application()], logger: logger)
        self.group = group
        task = Task { try await group.run() }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(25)) }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        unlink(socket)
    }

    /// One HTTP/1.1 request over the socket; the status code and the body.
    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) async throws
        -> (status: Int, body: String)
    {
        let (status, _, body) = try await exchange(method, path, body: body, headers: headers)
        return (status, body)
    }

    /// One HTTP/1.1 request over the socket (`headers` may replace `Host`); the status, the head and the body.
    func exchange(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) async throws
        -> (status: Int, head: String, body: String)
    {
        try await offThePool { try self.blockingExchange(method, path, body: body, headers: headers) }
    }

    private func blockingExchange(_ method: String, _ path: String, body: String?, headers: [String: String]) throws
        -> (status: Int, head: String, body: String)
    {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in socket.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let payload = body ?? ""
        let fields = ["Host": "crmad"].merging(headers) { $1 }.map { "\($0): \($1)\r\n" }.sorted().joined()
        let text =
            "\(method) \(path) HTTP/1.1\r\n\(fields)Connection: close\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(payload.utf8.count)\r\n\r\n\(payload)"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            data += buf[0..<n]
        }
        let response = String(decoding: data, as: UTF8.self)
        let status = Int(response.split(separator: " ").dropFirst().first ?? "") ?? 0
        guard let split = response.range(of: "\r\n\r\n") else { return (status, response, "") }
        return (status, String(response[..<split.lowerBound]), String(response[split.upperBound...]))
    }
}

@Suite(.serialized) struct ControlServerTests {
    /// Each error the daemon throws reaches the client with its status and code, and its words.
    @Test func errorsMapToTheirStatusAndCode() async throws {
        let s = try await RunningServer()
        defer { Task { await s.stop() } }
        let cases: [(String, String, String?, Int, String)] = [
            ("GET", "/v1/versions/99", nil, 404, "not_found"),
            ("POST", "/v1/rollback", #"{"version":99}"#, 404, "not_found"),
            ("POST", "/v1/rollback", #"{"version":3}"#, 409, "conflict"),
            ("POST", "/v1/jobs/7/cancel", nil, 409, "conflict"),
            ("POST", "/v1/jobs/8/cancel", nil, 404, "not_found"),
            ("POST", "/v1/retry", #"{"domain":"law"}"#, 404, "not_found"),
            ("POST", "/v1/retry", #"{"domain":"law","strategy":"sgd"}"#, 400, "bad_request"),
            ("POST", "/v1/export", #"{"version":42,"format":"crma"}"#, 404, "not_found"),
            ("POST", "/v1/chat/completions", #"{"model":"base","messages":[{"role":"user","content":"hi"}]}"#, 429, "too_many_requests"),
            ("POST", "/v1/completions", #"{"model":"base","prompt":"hi"}"#, 503, "unavailable"),
            ("GET", "/v1/nothing", nil, 404, "not_found"),
            ("POST", "/v1/rollback", "{not json", 400, "bad_request"),
        ]
        for (method, path, body, status, code) in cases {
            let r = try await s.request(method, path, body: body)
            #expect(r.status == status, "\(method) \(path): \(r.body)")
            #expect(r.body.contains(#""code":"\#(code)""#), "\(method) \(path): \(r.body)")
        }
        await s.stop()
    }

    /// vLLM's tokenizer endpoints answer at the root, where lm-evaluation-harness looks for them.
    @Test func tokenizerEndpointsAnswerAtTheRoot() async throws {
        let s = try await RunningServer()
        let info = try await s.request("GET", "/tokenizer_info")
        #expect(info.status == 200 && info.body.contains(#""eos_token":"<eos>""#) && info.body.contains(#""bos_token":null"#))
        let t = try await s.request("POST", "/tokenize", body: #"{"prompt":"ab","add_special_tokens":false}"#)
        #expect(t.status == 200 && t.body.contains(#""tokens":[1,2]"#), "\(t.body)")
        let back = try await s.request("POST", "/detokenize", body: #"{"tokens":[1,2]}"#)
        #expect(back.status == 200 && back.body.contains(#""prompt":"ab""#))
        #expect(try await s.request("POST", "/detokenize", body: #"{"tokens":"x"}"#).status == 400)
        await s.stop()
    }

    /// Reads route to the daemon's answers; generate says which adapters answered.
    @Test func readsAndGenerateRouteToTheDaemon() async throws {
        let s = try await RunningServer()
        let status = try await s.request("GET", "/v1/status")
        #expect(status.status == 200 && status.body.contains(#""activeVersion":2"#))
        let v = try await s.request("GET", "/v1/versions/3")
        #expect(v.status == 200 && v.body.contains(#""metric":"holdout:medical""#) && v.body.contains(#""severity":"critical""#))
        let g = try await s.request("POST", "/v1/generate", body: #"{"prompt":"What is otitis?"}"#)
        #expect(g.status == 200 && g.body.contains(#""model":"crma:medical""#))
        let models = try await s.request("GET", "/v1/models")
        #expect(models.status == 200 && models.body.contains(#""id":"crma:medical""#))
        await s.stop()
    }

    /// crmactl against the server: its table, its --json, and a refusal's message and exit code.
    @Test func crmactlRendersTablesJSONAndRefusals() async throws {
        let crmactl = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/crmactl").path
        try #require(FileManager.default.isExecutableFile(atPath: crmactl), "build crmactl first")
        let s = try await RunningServer()
        func run(_ args: [String]) async throws -> (status: Int32, out: String, err: String) {
            try await offThePool { try runBlocking(args) }
        }
        @Sendable func runBlocking(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: crmactl)
            p.arguments = args + ["--socket", s.socket]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        let table = try await run(["versions"])
        #expect(table.status == 0)
        let lines = table.out.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("VERSION  STATE") == true)
        #expect(lines.contains { $0.hasPrefix("2 *") && $0.contains("accepted") && $0.contains("medical") })
        #expect(lines.contains { $0.hasPrefix("3 ") && $0.contains("holdout:medical drifted +24.00% (3.1000 vs 2.5000, critical threshold 10.0%)") })
        let json = try await run(["versions", "--json"])
        let decoded = try JSONDecoder().decode([VersionRecord].self, from: Data(json.out.utf8))
        #expect(json.status == 0 && decoded == FakeDaemon.versions)
        let missing = try await run(["rollback", "99"])
        #expect(missing.status == 66 && missing.err.contains("no version 99"))
        let conflict = try await run(["rollback", "3"])
        #expect(conflict.status == 65 && conflict.err.contains("never accepted"))
        let generated = try await run(["generate", "What is otitis?"])
        #expect(generated.status == 0 && generated.out == "ok\n" && generated.err.contains("[crma:medical]"))
        await s.stop()
    }
}

/// Who may change state, and who may use the TCP listener.
@Suite struct AuthorisationTests {
    @Test func rootTheDaemonsUserAndTheAllowedMayMutate() {
        func peer(_ uid: UInt32, _ gid: UInt32) -> PeerCredentials { PeerCredentials(pid: 1, uid: uid, gid: gid) }
        #expect(peer(0, 0).mayMutate(daemonUID: 999, allowedUIDs: [], allowedGIDs: []))
        #expect(peer(999, 5).mayMutate(daemonUID: 999, allowedUIDs: [], allowedGIDs: []))
        #expect(peer(1000, 1000).mayMutate(daemonUID: 999, allowedUIDs: [1000], allowedGIDs: []))
        #expect(peer(1001, 50).mayMutate(daemonUID: 999, allowedUIDs: [1000], allowedGIDs: [50]))
        #expect(!peer(1001, 51).mayMutate(daemonUID: 999, allowedUIDs: [1000], allowedGIDs: [50]))
    }

    @Test func theBearerTokenMustMatchExactly() {
        let token = Array("0123456789abcdef".utf8)
        #expect(BearerTokenMiddleware<BasicRequestContext>.authorizes("Bearer 0123456789abcdef", token: token, basicAllowed: false))
        for wrong in [nil, "", "Bearer", "Bearer ", "Bearer 0123456789abcde", "Bearer 0123456789abcdefX",
                      "bearer 0123456789abcdef", "Basic 0123456789abcdef", "Bearer 0123456789abcdeF"] {
            #expect(!BearerTokenMiddleware<BasicRequestContext>.authorizes(wrong, token: token, basicAllowed: true), "\(wrong ?? "nil")")
        }
    }

    /// A browser sends the token as HTTP Basic credentials (any user name, the token as the password), and
    /// only for reads: it sends cached credentials by itself, also on a POST another site's page makes.
    @Test func aBrowserMayGiveTheTokenAsTheBasicPasswordToRead() {
        typealias Gate = BearerTokenMiddleware<BasicRequestContext>
        let token = Array("0123456789abcdef".utf8)
        func basic(_ credentials: String) -> String { "Basic " + Data(credentials.utf8).base64EncodedString() }
        for right in ["operator:0123456789abcdef", ":0123456789abcdef"] {
            #expect(Gate.authorizes(basic(right), token: token, basicAllowed: true), "\(right)")
            #expect(!Gate.authorizes(basic(right), token: token, basicAllowed: false), "\(right)")
        }
        #expect(Gate.authorizes("Bearer 0123456789abcdef", token: token, basicAllowed: true))
        for wrong in [basic("0123456789abcdef"), basic("operator:0123456789abcde"), basic("operator:0123456789abcdef:"),
                      basic("0123456789abcdef:x"), "Basic !!!", "Basic ", basic("operator:0123456789abcdeF")] {
            #expect(!Gate.authorizes(wrong, token: token, basicAllowed: true), "\(wrong)")
        }
    }
}
