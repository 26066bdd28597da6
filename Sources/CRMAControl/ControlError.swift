import CRMADaemon
import CRMAWire
import Hummingbird
import NIOCore
import Foundation

/// Errors of the control API, each with an HTTP status and a stable code; sent as
/// `{"error": {"code": …, "message": …}}`.
public enum ControlError: Error, Equatable {
    case noCredentials
    case forbidden(uid: UInt32)
    case badRequest(String)
    case notFound(String)
    case conflict(String)
    case unavailable(String)
    case tooManyRequests(String)
    case unauthorized

    var status: HTTPResponse.Status {
        switch self {
        case .noCredentials, .forbidden: .forbidden
        case .badRequest: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .unavailable: .serviceUnavailable
        case .tooManyRequests: .tooManyRequests
        case .unauthorized: .unauthorized
        }
    }

    var code: String {
        switch self {
        case .noCredentials, .forbidden: "forbidden"
        case .badRequest: "bad_request"
        case .notFound: "not_found"
        case .conflict: "conflict"
        case .unavailable: "unavailable"
        case .tooManyRequests: "too_many_requests"
        case .unauthorized: "unauthorized"
        }
    }

    var message: String {
        switch self {
        case .unauthorized: "this listener needs `Authorization: Bearer <token>` with the token in control.token_file"
        case .noCredentials: "cannot read the peer's credentials; mutating calls need a Unix socket peer"
        case .forbidden(let uid):
            "uid \(uid) may not change state; add it to control.allowed_uids (or its group to allowed_gids) in crmad.toml"
        case .badRequest(let m), .notFound(let m), .conflict(let m), .unavailable(let m), .tooManyRequests(let m): m
        }
    }

    static func response(status: HTTPResponse.Status, code: String, message: String) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(ErrorBody(code: code, message: message))) ?? Data()
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body + Data("\n".utf8))))
    }

    var response: Response { Self.response(status: status, code: code, message: message) }
}

/// Turns every error — ours, Hummingbird's (404, 413, decoding) and the daemon's — into the JSON shape.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let e as ControlError {
            return e.response
        } catch let e as ModelQueueError {
            switch e {
            case .full: return ControlError.tooManyRequests("\(e)").response
            case .deadline: return ControlError.unavailable("\(e)").response
            }
        } catch let e as InferencePlan.Refusal {
            switch e {
            case .badRequest: return ControlError.badRequest("\(e)").response
            case .unknownModel: return ControlError.notFound("\(e)").response
            }
        } catch let e as ActiveVersionError {
            return ControlError.unavailable("\(e)").response
        } catch let e as HTTPError {
            let code =
                switch e.status {
                case .notFound: "not_found"
                case .contentTooLarge: "too_large"
                case .methodNotAllowed: "method_not_allowed"
                default: "bad_request"
                }
            let message = e.body ?? (e.status == .notFound ? "no such endpoint \(request.method) \(request.uri.path); see `crmactl --help`" : "\(e.status)")
            return ControlError.response(status: e.status, code: code, message: message)
        } catch is NIOTooManyBytesError {
            return ControlError.response(
                status: .contentTooLarge, code: "too_large",
                message: "the request body is over \(context.maxUploadSize) bytes")
        } catch let e as DecodingError {
            return ControlError.response(status: .badRequest, code: "bad_request", message: "the JSON body is not valid: \(e)")
        } catch {
            return ControlError.response(status: .internalServerError, code: "internal", message: "\(error)")
        }
    }
}

/// The TCP listener's gate: `Authorization: Bearer <token>`, compared in constant time; 401 otherwise.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    init(token: String) { self.token = Array(token.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let given = request.headers[.authorization].map { Array($0.utf8) } ?? []
        let expected = Array("Bearer ".utf8) + token
        var diff = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { diff |= expected[i] ^ (i < given.count ? given[i] : 0) }
        guard diff == 0 else { throw ControlError.unauthorized }
        return try await next(request, context)
    }
}
