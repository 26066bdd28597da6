import CRMAContinual
import CRMADaemon
import CRMAWire
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The control API: HTTP/1.1 + JSON on the daemon's Unix socket (docs/architecture.md). Reads come from
/// SQLite and the daemon's status; model work (generate, score) runs between training steps (the daemon schedules it);
/// mutating calls are authorised from the peer's credentials.
public struct ControlServer: Sendable {
    /// What the server needs of the configuration: where it listens and who may change state.
    public struct Settings: Sendable {
        public var socket: String
        public var socketMode: Int
        public var idleTimeoutSeconds: Double
        public var allowedUIDs: [UInt32]
        public var allowedGIDs: [UInt32]

        public init(socket: String, socketMode: Int, idleTimeoutSeconds: Double, allowedUIDs: [UInt32], allowedGIDs: [UInt32]) {
            self.socket = socket
            self.socketMode = socketMode
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.allowedUIDs = allowedUIDs
            self.allowedGIDs = allowedGIDs
        }

        public init(config: DaemonConfig) {
            self.init(
                socket: config.paths.socket, socketMode: config.control.socketMode,
                idleTimeoutSeconds: config.control.idleTimeoutSeconds, allowedUIDs: config.control.allowedUIDs,
                allowedGIDs: config.control.allowedGIDs)
        }
    }

    public let api: any ControlAPI
    public let settings: Settings
    public let logger: Logger
    /// The metrics backend's exposition (Prometheus text), which GET /metrics shows after sampling the
    /// daemon's state into `DaemonMetrics.shared`; crmad bootstraps the backend.
    public let metricsExposition: @Sendable () -> [UInt8]

    public init(
        api: any ControlAPI, settings: Settings, logger: Logger,
        metricsExposition: @escaping @Sendable () -> [UInt8] = { [] }
    ) {
        self.api = api
        self.settings = settings
        self.logger = logger
        self.metricsExposition = metricsExposition
    }

    /// The application, bound to the configured socket; `onRunning` fires once it accepts connections.
    public func application(onRunning: @escaping @Sendable () async -> Void = {}) throws -> some ApplicationProtocol {
        let path = settings.socket
        try Self.prepareSocketPath(path)
        let mode = mode_t(settings.socketMode)
        return Application(
            router: router(),
            server: .http1(configuration: Self.http1(idleTimeoutSeconds: settings.idleTimeoutSeconds)),
            configuration: .init(address: .unixDomainSocket(path: path), serverName: "crmad"),
            onServerRunning: { _ in
                chmod(path, mode)
                await onRunning()
            },
            logger: logger)
    }

    /// The TCP listener (``listenerRouter(token:)``), for clients that cannot reach the socket.
    public func listenerApplication(listen: TCPListen, token: String, onRunning: @escaping @Sendable () async -> Void = {})
        throws -> some ApplicationProtocol
    {
        Application(
            router: listenerRouter(token: token),
            server: .http1(configuration: Self.http1(idleTimeoutSeconds: settings.idleTimeoutSeconds)),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "crmad"),
            onServerRunning: { _ in await onRunning() },
            logger: logger)
    }

    /// HTTP/1.1 limits for a local control API: requests are small, so headers are capped at 16 KiB and
    /// 100 fields (a bigger head gets 400), and idle connections are closed.
    static func http1(idleTimeoutSeconds: Double) -> HTTP1Channel.Configuration {
        HTTP1Channel.Configuration(
            idleTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000)),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 << 10, maxHeaderListSize: 16 << 10, maxHeaderFieldCount: 100))
    }

    /// Removes a stale socket file left by a crash (never anything else), and creates its directory.
    static func prepareSocketPath(_ path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                throw ControlError.conflict("\(path) exists and is not a socket; remove it or set paths.socket")
            }
            unlink(path)
        }
    }

    /// The inference API (``InferenceRoutes``), the reads of the daemon's state (``StateRoutes``) and the
    /// dashboard, for the TCP listener: every request must carry the token (``BearerTokenMiddleware``);
    /// nothing that changes state is reachable here.
    func listenerRouter(token: String) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware<BasicRequestContext>())
        router.add(middleware: BearerTokenMiddleware(token: token))
        let v1 = router.group("v1")
        InferenceRoutes.add(to: v1, api: api)
        InferenceRoutes.addTokenizer(to: router, api: api)
        StateRoutes.add(to: v1, api: api)
        DashboardRoutes.add(to: router) { _ in AccessInfo(listener: .tcp, uid: nil, mayChangeState: false) }
        return router
    }

    func router() -> Router<ControlContext> {
        let router = Router(context: ControlContext.self)
        router.add(middleware: ErrorMiddleware<ControlContext>())
        router.add(middleware: BrowserOriginMiddleware<ControlContext>())
        let d = api
        let settings = self.settings
        let exposition = metricsExposition
        let v1 = router.group("v1")
        StateRoutes.add(to: v1, api: d)
        DashboardRoutes.add(to: router) { ctx in
            let peer = try await PeerCredentials.of(ctx.channel)
            return AccessInfo(listener: .socket, uid: peer.uid, mayChangeState: mayMutate(peer))
        }
        v1.post("pause") { _, ctx in
            try await authorise(ctx)
            try d.pause()
            return try Self.json(d.status())
        }
        v1.post("resume") { _, ctx in
            try await authorise(ctx)
            try d.resume()
            return try Self.json(d.status())
        }
        v1.post("rollback") { req, ctx in
            try await authorise(ctx)
            let r = try await req.decode(as: RollbackRequest.self, context: ctx)
            try d.rollback(to: r.version)
            return try Self.json(d.status())
        }
        v1.post("retry") { req, ctx in
            try await authorise(ctx)
            let r = try await req.decode(as: RetryRequest.self, context: ctx)
            let name = r.strategy ?? d.defaultStrategy.rawValue
            guard let s = Strategy(rawValue: name) else {
                throw ControlError.badRequest(
                    "unknown strategy \(name); use one of \(Strategy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return try Self.json(RetryResponse(job: try d.retry(domain: r.domain, strategy: s)))
        }
        v1.post("jobs/:id/cancel") { _, ctx in
            try await authorise(ctx)
            let id = try Self.id(ctx)
            let state = try d.cancel(job: id)
            return try Self.json(CancelResponse(job: "\(id)", state: state == .cancelled ? "cancelled" : "cancelling"))
        }
        v1.post("generate") { req, ctx in
            let r = try await req.decode(as: GenerateRequest.self, context: ctx)
            let n = r.maxTokens ?? 32
            guard (1...128).contains(n) else { throw ControlError.badRequest("max_tokens must be 1...128") }
            guard !r.prompt.isEmpty else { throw ControlError.badRequest("prompt is empty") }
            return try Self.json(try await d.generate(r, maxTokens: n))
        }
        InferenceRoutes.add(to: v1, api: d)
        InferenceRoutes.addTokenizer(to: router, api: d)
        v1.post("score") { req, ctx in
            let r = try await req.decode(as: ScoreRequest.self, context: ctx)
            guard let s = try await d.score(r.text) else { throw ControlError.badRequest("the text needs at least two tokens") }
            return try Self.json(s)
        }
        v1.post("export") { req, ctx in
            // The learned weights leave the machine here: the same permission as the calls that change state.
            try await authorise(ctx)
            let r = try await req.decode(as: ExportRequest.self, context: ctx)
            return try Self.json(try await d.export(r))
        }
        router.get("metrics") { _, _ in
            let text = DaemonMetrics.shared.page(
                status: d.status(), versions: try d.versions(), rejectedFiles: d.rejectedFileCount(), emit: exposition)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        @Sendable func mayMutate(_ peer: PeerCredentials) -> Bool {
            peer.mayMutate(daemonUID: getuid(), allowedUIDs: settings.allowedUIDs, allowedGIDs: settings.allowedGIDs)
        }
        @Sendable func authorise(_ ctx: ControlContext) async throws {
            let peer = try await PeerCredentials.of(ctx.channel)
            guard mayMutate(peer) else { throw ControlError.forbidden(uid: peer.uid) }
        }
        return router
    }

    static func id(_ ctx: some RequestContext) throws -> Int64 {
        guard let s = ctx.parameters.get("id"), let id = Int64(s) else {
            throw ControlError.badRequest("the id must be an integer")
        }
        return id
    }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        var data = try WireJSON.encoder().encode(value)
        data.append(0x0A)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
