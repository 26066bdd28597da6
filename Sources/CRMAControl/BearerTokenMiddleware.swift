import Foundation
import Hummingbird

/// The TCP listener's gate: the token in `Authorization: Bearer <token>` (API clients), or for a GET as
/// the password of HTTP Basic credentials with any user name (a browser, which asks for them after a 401,
/// then sends them by itself — so never for a POST, which another site's page could make it send), compared
/// in constant time; 401 otherwise.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    init(token: String) { self.token = Array(token.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let basicAllowed = request.method == .get || request.method == .head
        guard Self.authorizes(request.headers[.authorization], token: token, basicAllowed: basicAllowed) else {
            throw ControlError.unauthorized
        }
        return try await next(request, context)
    }

    /// Pure: whether an `Authorization` header value is exactly `Bearer <token>`, or (when `basicAllowed`)
    /// `Basic` credentials whose password is exactly the token, compared in time that depends on the token's
    /// length only (not on where a wrong guess differs).
    static func authorizes(_ header: String?, token: [UInt8], basicAllowed: Bool) -> Bool {
        guard let header else { return false }
        if header.hasPrefix("Basic ") {
            guard basicAllowed else { return false }
            guard let decoded = Data(base64Encoded: String(header.dropFirst("Basic ".count))),
                let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
            else { return false }
            return equalInConstantTime(Array(decoded[decoded.index(after: colon)...]), token)
        }
        return equalInConstantTime(Array(header.utf8), Array("Bearer ".utf8) + token)
    }

    /// Pure: `given == expected`, in time that depends on `expected.count` only.
    static func equalInConstantTime(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var diff = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { diff |= expected[i] ^ (i < given.count ? given[i] : 0) }
        return diff == 0
    }
}
