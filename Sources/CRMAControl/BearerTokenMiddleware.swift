import Hummingbird

/// The TCP listener's gate: `Authorization: Bearer <token>`, compared in constant time; 401 otherwise.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    init(token: String) { self.token = Array(token.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard Self.authorizes(request.headers[.authorization], token: token) else { throw ControlError.unauthorized }
        return try await next(request, context)
    }

    /// Pure: whether an `Authorization` header value is exactly `Bearer <token>`, compared in time that
    /// depends on the token's length only (not on where a wrong guess differs).
    static func authorizes(_ header: String?, token: [UInt8]) -> Bool {
        let given = header.map { Array($0.utf8) } ?? []
        let expected = Array("Bearer ".utf8) + token
        var diff = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { diff |= expected[i] ^ (i < given.count ? given[i] : 0) }
        return diff == 0
    }
}
