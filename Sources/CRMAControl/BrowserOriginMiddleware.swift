import Hummingbird

/// The control socket's guard against web pages. A browser reaches the socket only through a forward to a
/// loopback port (`ssh -L 8080:/run/crmad/crmad.sock server`), where any page the operator has open could
/// also send requests to it, with the forward's permissions. So:
/// - a request that names a host by a DNS name or an address other than loopback is refused, whoever
///   sent it: that is what a DNS-rebound page sends (and it sends no `Origin` on its own GETs);
///   single-label names (`crmad`, `localhost`, `unix`) and non-DNS values, which clients of a Unix socket
///   use, are served;
/// - a request a browser marks as its own (`Origin`, or `Sec-Fetch-Site`) must come from that same
///   loopback origin.
/// crmactl and curl (`http://crmad/…`) are not affected.
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
        let host = host?.lowercased()
        if let host, isRemote(host: host) || ((origin != nil || fetchSite != nil) && !isLoopback(host: host)) {
            return "the control socket answers a browser only through a forward to a loopback address "
                + "(ssh -L 8080:/run/crmad/crmad.sock SERVER, then http://localhost:8080/), and other clients "
                + "under a name without dots (http://crmad/); this request names host \(host)"
        }
        guard origin != nil || fetchSite != nil else { return nil }
        guard let host else { return "a browser's request without a Host may not use the control socket" }
        if let origin, origin.lowercased() != "http://" + host {
            return "a request from another site (\(origin)) may not use the control socket"
        }
        if let fetchSite, !["same-origin", "none"].contains(fetchSite.lowercased()) {
            return "a \(fetchSite) request may not use the control socket"
        }
        return nil
    }

    /// Pure: whether `host` (a Host header: name or address, and an optional port) names a place a browser
    /// can resolve other than this machine's loopback: a dotted DNS name, an IPv4 address, or an IPv6
    /// literal, but not loopback.
    static func isRemote(host: String) -> Bool {
        if isLoopback(host: host) { return false }
        if host.hasPrefix("[") { return true }
        let name = Self.name(host) ?? Substring(host)
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        let dnsLabel: (Substring) -> Bool = { label in
            !label.isEmpty && label.count <= 63 && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        // A trailing dot (an absolute name) is still a name.
        let meaningful = labels.last == "" ? labels.dropLast() : labels[...]
        return meaningful.count >= 2 && meaningful.allSatisfy(dnsLabel)
    }

    /// Pure: whether `host` is a loopback name: `localhost`, `127.x.x.x` or `[::1]`, with an optional port.
    static func isLoopback(host: String) -> Bool {
        if host.hasPrefix("[") {
            guard let end = host.firstIndex(of: "]") else { return false }
            let rest = host[host.index(after: end)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber)) else { return false }
            return host[host.index(after: host.startIndex)..<end] == "::1"
        }
        guard let name = name(host) else { return false }
        if name == "localhost" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The name of a `name[:port]` Host value (nil when the port is not a number).
    static func name(_ host: String) -> Substring? {
        guard let colon = host.lastIndex(of: ":") else { return Substring(host) }
        guard host[host.index(after: colon)...].allSatisfy(\.isNumber) else { return nil }
        return host[..<colon]
    }
}
