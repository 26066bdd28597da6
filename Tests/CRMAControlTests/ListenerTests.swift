import CRMAWire
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
@testable import CRMAControl

/// The TCP listener: what it routes, and its token, in front of ``FakeDaemon``.
@Suite struct ListenerTests {
    static let token = "listener-0123456789abcdef"

    static func router() -> Router<BasicRequestContext> {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return ControlServer(
            api: FakeDaemon(),
            settings: .init(socket: "/nonexistent", socketMode: 0o660, idleTimeoutSeconds: 5, allowedUIDs: [], allowedGIDs: []),
            logger: logger
        ).listenerRouter(token: token)
    }

    /// Nothing that changes state is routed: reads, and the inference API's POSTs, which change nothing.
    @Test func nothingThatChangesStateIsRouted() {
        let routes = Self.router().routes
        let posts = Set(routes.filter { $0.method == .post }.map { "\($0.path)" })
        #expect(posts == ["/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize"], "\(posts)")
        #expect(routes.allSatisfy { $0.method == .get || $0.method == .post })
        #expect(Set(routes.map { "\($0.path)" }).isSuperset(of: ["/", "/v1/access", "/v1/status", "/v1/versions", "/v1/events"]))
    }

    /// Without the token: 401 with both challenges (bearer for API clients, Basic so a browser asks). With
    /// it as the Basic password a browser reads the page and the state, but may not POST; the bearer may.
    @Test func theTokenGuardsEveryRequestAndBasicOnlyReads() async throws {
        let basic = "Basic " + Data("operator:\(Self.token)".utf8).base64EncodedString()
        let bearer = "Bearer \(Self.token)"
        let completion = ByteBuffer(string: #"{"model": "base", "prompt": "x", "max_tokens": 1}"#)
        try await Application(router: Self.router()).test(.router) { client in
            try await client.execute(uri: "/", method: .get) { r in
                #expect(r.status == .unauthorized)
                #expect(r.headers[values: .wwwAuthenticate] == [#"Bearer realm="crmad""#, #"Basic realm="crmad", charset="UTF-8""#])
            }
            try await client.execute(uri: "/", method: .get, headers: [.authorization: basic]) { r in
                #expect(r.status == .ok && String(buffer: r.body).contains("<title>crmad</title>"))
            }
            try await client.execute(uri: "/v1/access", method: .get, headers: [.authorization: basic]) { r in
                #expect(r.status == .ok && String(buffer: r.body).contains(#""listener":"tcp""#))
                #expect(String(buffer: r.body).contains(#""mayChangeState":false"#))
            }
            try await client.execute(uri: "/v1/status", method: .get, headers: [.authorization: bearer]) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/v1/completions", method: .post, headers: [.authorization: basic], body: completion) { r in
                #expect(r.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/completions", method: .post, headers: [.authorization: bearer], body: completion) { r in
                #expect(r.status != .unauthorized)  // the fake daemon's queue answers: past the token
            }
            try await client.execute(
                uri: "/v1/rollback", method: .post, headers: [.authorization: bearer], body: ByteBuffer(string: #"{"version": 2}"#)
            ) { r in
                #expect(r.status == .notFound)
            }
        }
    }
}
