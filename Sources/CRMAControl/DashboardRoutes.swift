import CRMAModel
import CRMAWire
import Foundation
import Hummingbird
import NIOCore

/// `GET /`: the dashboard, one self-contained page (its script and styles inline, nothing fetched from
/// anywhere but this listener: its Content-Security-Policy says so to the browser), and `GET /v1/access`,
/// which tells the page whether its caller may change state.
enum DashboardRoutes {
    static func add<Context: RequestContext>(
        to router: Router<Context>, access: @escaping @Sendable (Context) async throws -> AccessInfo
    ) {
        router.get("/") { _, _ in page }
        router.get("v1/access") { _, ctx in try ControlServer.json(try await access(ctx)) }
    }

    /// The page's bytes (Dashboard/dashboard.html, embedded in the binary at build time).
    static let html = PackageResources.dashboard_html

    /// Every response of `GET /`: the page, never cached (a new crmad may serve a new page), never framed.
    static var page: Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: contentSecurityPolicy, .xContentTypeOptions: "nosniff",
                .init("Referrer-Policy")!: "no-referrer",  // a constant, valid field name
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: html)))
    }

    /// The page's own inline script and styles only (named by their SHA-256, so nothing injected into the
    /// page would run); requests only to this origin; no frames, forms, plugins or base URL.
    static let contentSecurityPolicy = contentSecurityPolicy(for: String(decoding: html, as: UTF8.self))

    static func contentSecurityPolicy(for page: String) -> String {
        "default-src 'none'; script-src \(hashSources(of: "script", in: page)); "
            + "style-src \(hashSources(of: "style", in: page)); connect-src 'self'; "
            + "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    }

    /// CSP hash sources (`'sha256-<base64>'`) of the text of every `<tag>…</tag>` element in `page` (written
    /// without attributes, as the dashboard writes them); `'none'` when there is none.
    static func hashSources(of tag: String, in page: String) -> String {
        var sources: [String] = []
        var rest = page[...]
        while let open = rest.range(of: "<\(tag)>"), let close = rest.range(of: "</\(tag)>", range: open.upperBound..<rest.endIndex) {
            let digest = SHA256.digest(Array(rest[open.upperBound..<close.lowerBound].utf8))
            sources.append("'sha256-\(Data(digest).base64EncodedString())'")
            rest = rest[close.upperBound...]
        }
        return sources.isEmpty ? "'none'" : sources.joined(separator: " ")
    }
}
