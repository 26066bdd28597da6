import Foundation
import Hummingbird
import NIOCore

/// Turns every error — ours, Hummingbird's (404, 413, decoding) and the daemon's — into the JSON shape.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
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
            if let e = ControlError(daemon: error) { return e.response }
            return ControlError.response(status: .internalServerError, code: "internal", message: "\(error)")
        }
    }
}
