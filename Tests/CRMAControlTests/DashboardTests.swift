import Foundation
import Hummingbird
import Testing
@testable import CRMAControl

/// The dashboard's server side: the page, who may roll back from it, and the socket's guard against web
/// pages. (The page itself runs in a real browser in `make test`: scripts/browser/dashboard_check.py.)
@Suite(.serialized) struct DashboardTests {
    /// GET / serves the page under its Content-Security-Policy; /v1/access tells the page that this caller
    /// (the test process: the daemon's own uid) may change state.
    @Test func theSocketServesThePageAndSaysWhoMayRollBack() async throws {
        let s = try await RunningServer()
        let page = try await s.exchange("GET", "/")
        #expect(page.status == 200 && page.body.contains("<title>crmad</title>"))
        #expect(page.head.contains("Content-Type: text/html; charset=utf-8"))
        #expect(page.head.contains("Content-Security-Policy: default-src 'none';") && page.head.contains("connect-src 'self'"))
        let access = try await s.request("GET", "/v1/access")
        #expect(access.status == 200, "\(access.body)")
        #expect(access.body.contains(#""listener":"socket""#) && access.body.contains(#""mayChangeState":true"#))
        #expect(access.body.contains(#""uid":\#(getuid())"#))
        await s.stop()
    }

    /// A browser's request from another site, or a request through a DNS name or address other than
    /// loopback (a DNS-rebound page sends no `Origin` on its GETs), is refused before it reaches the daemon;
    /// the same origin on loopback, and clients that are not browsers, are served.
    @Test func aBrowserMustComeFromTheForwardedLoopbackOrigin() async throws {
        let s = try await RunningServer()
        let body = #"{"version":2}"#
        let forged = try await s.request(
            "POST", "/v1/rollback", body: body, headers: ["Host": "localhost:8080", "Origin": "http://evil.example"])
        #expect(forged.status == 403 && forged.body.contains("another site"), "\(forged.body)")
        let rebound = try await s.request("GET", "/v1/status", headers: ["Host": "evil.example:8080"])
        #expect(rebound.status == 403 && rebound.body.contains(#""code":"cross_origin""#), "\(rebound.body)")
        let page = ["Host": "localhost:8080", "Origin": "http://localhost:8080", "Sec-Fetch-Site": "same-origin"]
        #expect(try await s.request("POST", "/v1/rollback", body: body, headers: page).status == 200)
        #expect(try await s.request("POST", "/v1/rollback", body: body).status == 200)
        #expect(try await s.request("GET", "/v1/status", headers: ["Host": "localhost"]).status == 200)
        await s.stop()
    }

    @Test func theOriginRule() {
        typealias Rule = BrowserOriginMiddleware<BasicRequestContext>
        // Clients of the socket that are not browsers: any single-label or non-DNS name, or none.
        for host in ["crmad", "localhost", "unix", "%2frun%2fcrmad%2fcrmad.sock", "localhost:80x", "127.0.0.1:8080"] {
            #expect(Rule.refusal(host: host, origin: nil, fetchSite: nil) == nil, "\(host)")
        }
        #expect(Rule.refusal(host: nil, origin: nil, fetchSite: nil) == nil)
        // A name a browser resolves elsewhere is refused with or without browser headers (DNS rebinding).
        for host in ["evil.example", "evil.example.:8080", "localhost.evil.example:8080", "127.0.0.1.evil.example",
                     "192.168.1.5:8080", "[::2]:80", "128.0.0.1", "127.0.0.256"] {
            #expect(Rule.refusal(host: host, origin: nil, fetchSite: nil) != nil, "\(host)")
        }
        // A browser's own request: loopback, same origin.
        for host in ["localhost:8080", "127.0.0.1:9", "127.1.2.3", "[::1]:8080", "LOCALHOST:8080", "localhost"] {
            #expect(Rule.refusal(host: host, origin: "http://" + host.lowercased(), fetchSite: "same-origin") == nil, "\(host)")
            #expect(Rule.refusal(host: host, origin: nil, fetchSite: "none") == nil, "\(host)")
        }
        for host in ["crmad", "localhost:80x", "[::1]x"] {
            #expect(Rule.refusal(host: host, origin: nil, fetchSite: "same-origin") != nil, "\(host)")
        }
        #expect(Rule.refusal(host: nil, origin: "http://localhost", fetchSite: nil) != nil)
        #expect(Rule.refusal(host: "localhost:8080", origin: "http://localhost:9090", fetchSite: nil) != nil)
        #expect(Rule.refusal(host: "localhost:8080", origin: "null", fetchSite: nil) != nil)
        #expect(Rule.refusal(host: "localhost:8080", origin: nil, fetchSite: "cross-site") != nil)
        #expect(Rule.refusal(host: "localhost:8080", origin: nil, fetchSite: "same-site") != nil)
    }

    /// Only the page's own inline script and styles run: the policy names each by its SHA-256 (values from
    /// Python's hashlib), never 'unsafe-inline', so markup injected into the page could run nothing.
    @Test func thePolicyAllowsOnlyThePagesOwnInlineBlocks() {
        let policy = DashboardRoutes.contentSecurityPolicy(
            for: "<style>p { color: red }</style><script>alert(1)</script><p>x</p><script>x</script>")
        #expect(policy.contains(
            "script-src 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=' 'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=';"))
        #expect(policy.contains("style-src 'sha256-ngewhhP73WDIbgwseeu52VAAJgKdGUsu1IUQQsAm8m4=';"))
        #expect(DashboardRoutes.contentSecurityPolicy(for: "<p>no script</p>").contains("script-src 'none'; style-src 'none';"))
        let served = DashboardRoutes.contentSecurityPolicy
        #expect(!served.contains("unsafe"), "\(served)")
        #expect(served.matches(of: /'sha256-[A-Za-z0-9+\/]{43}='/).count == 2, "\(served)")
    }

    /// The page fetches nothing from anywhere: the only URL in it is the SVG namespace's name.
    @Test func thePageIsSelfContained() {
        let html = String(decoding: DashboardRoutes.html, as: UTF8.self)
        let urls = html.matches(of: /[a-z]+:\/\/[^\s"'`)]+/).map { String($0.output) }
        #expect(Set(urls) == ["http://www.w3.org/2000/svg"], "\(urls)")
        #expect(!html.contains("<script src") && !html.contains("@import") && !html.contains("url("))
    }
}
