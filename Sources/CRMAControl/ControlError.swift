import CRMAContinual
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
    /// A browser's request the control socket does not serve (``BrowserOriginMiddleware``): why.
    case crossOrigin(String)

    var status: HTTPResponse.Status {
        switch self {
        case .noCredentials, .forbidden, .crossOrigin: .forbidden
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
        case .crossOrigin: "cross_origin"
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
        case .unauthorized:
            "this listener needs `Authorization: Bearer <token>` with the token in control.token_file "
                + "(a browser: any user name, the token as the password)"
        case .noCredentials: "cannot read the peer's credentials; mutating calls need a Unix socket peer"
        case .forbidden(let uid):
            "uid \(uid) may not change state; add it to control.allowed_uids (or its group to allowed_gids) in crmad.toml"
        case .badRequest(let m), .notFound(let m), .conflict(let m), .unavailable(let m), .tooManyRequests(let m),
            .crossOrigin(let m):
            m
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

    var response: Response {
        var r = Self.response(status: status, code: code, message: message)
        if self == .unauthorized {
            // The challenges: API clients send the bearer token; a browser asks its user for Basic credentials.
            r.headers[values: .wwwAuthenticate] = [#"Bearer realm="crmad""#, #"Basic realm="crmad", charset="UTF-8""#]
        }
        return r
    }
}

extension ControlError {
    /// The one mapping from what the daemon throws to the API's errors: what does not exist is 404, a
    /// state that forbids the request is 409, a request the daemon cannot serve now is 503 or 429, a
    /// request that can never work is 400. Nil for errors that are not the daemon's (a 500).
    init?(daemon error: any Error) {
        switch error {
        case let e as ControlError: self = e
        case let e as RegistryError:
            switch e {
            case .noSuchJob, .noSuchVersion: self = .notFound("\(e)")
            case .notAccepted: self = .conflict("\(e)")
            }
        case let e as JobControlError:
            switch e {
            case .noSuchDomain: self = .notFound("\(e)")
            case .alreadyFinished, .evaluating, .movedMeanwhile: self = .conflict("\(e)")
            }
        case let e as UpdateError: self = .badRequest("\(e)")
        case let e as VersionExport.Failure:
            if case .notLearned = e { self = .notFound("\(e)") } else { self = .badRequest("\(e)") }
        case let e as ModelQueueError:
            switch e {
            case .full: self = .tooManyRequests("\(e)")
            case .deadline, .stopping: self = .unavailable("\(e)")
            }
        case let e as InferencePlan.Refusal:
            switch e {
            case .badRequest: self = .badRequest("\(e)")
            case .unknownModel: self = .notFound("\(e)")
            }
        case let e as ActiveVersionError: self = .unavailable("\(e)")
        default: return nil
        }
    }
}
