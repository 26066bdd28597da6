import CRMAWire
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

    /// Inline script and styles only; requests only to this origin; no frames, forms, plugins or base URL.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        + "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}
