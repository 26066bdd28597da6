import Hummingbird

/// The control socket's guard against web pages: a browser reaches the socket only through a forward to a
/// loopback port (`ssh -L 8080:/run/crmad/crmad.sock server`), where any page the operator has open could
/// also send requests to it, with the forward's permissions. A request a browser made (it carries `Origin`
/// or `Sec-Fetch-Site`) is served only when it names a loopback host (a DNS-rebound name is refused) and
/// comes from that same origin; crmactl, curl and other clients send neither header and are not affected.
struct BrowserOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if let refusal = Self.refusal(
            host: request.head.authority, origin: request.headers[.origin],
            fetchSite: request.headers.first { $0.name.canonicalName == "sec-fetch-site" }?.value)
        {
            throw ControlError.crossOrigin(refusal)
        }
        return try await next(request, context)
    }

    /// Pure: why a request with these headers is refused, or nil when it is served.
    static func refusal(host: String?, origin: String?, fetchSite: String?) -> String? {
        guard origin != nil || fetchSite != nil else { return nil }
        guard let host = host?.lowercased(), isLoopback(host: host) else {
            return "a browser may use the control socket only through a forward to a loopback address "
                + "(ssh -L 8080:/run/crmad/crmad.sock SERVER, then http://localhost:8080/); this request names "
                + "host \(host ?? "(none)")"
        }
        if let origin, origin.lowercased() != "http://" + host {
            return "a request from another site (\(origin)) may not use the control socket"
        }
        if let fetchSite, !["same-origin", "none"].contains(fetchSite.lowercased()) {
            return "a \(fetchSite) request may not use the control socket"
        }
        return nil
    }

    /// Pure: whether `host` (a Host header: name or address, and an optional port) is a loopback name.
    static func isLoopback(host: String) -> Bool {
        var name = Substring(host)
        if name.hasPrefix("[") {
            guard let end = name.firstIndex(of: "]") else { return false }
            let rest = name[name.index(after: end)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber)) else { return false }
            return name[name.index(after: name.startIndex)..<end] == "::1"
        }
        if let colon = name.lastIndex(of: ":") {
            guard name[name.index(after: colon)...].allSatisfy(\.isNumber) else { return false }
            name = name[..<colon]
        }
        if name == "localhost" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
