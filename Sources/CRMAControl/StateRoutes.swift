import CRMAWire
import Hummingbird
import NIOCore

/// The reads of the daemon's state — status, domains, versions, alerts, jobs, the loss matrix and the live
/// events — on the control socket and, behind the token, the TCP listener (what the dashboard shows).
/// Nothing here changes state; the calls that do stay on the socket (``ControlServer``).
enum StateRoutes {
    static func add<Context: RequestContext>(to v1: RouterGroup<Context>, api d: any ControlAPI) {
        v1.get("status") { _, _ in try ControlServer.json(d.status()) }
        v1.get("domains") { _, _ in try ControlServer.json(d.domains()) }
        v1.get("versions") { _, _ in try ControlServer.json(d.versions()) }
        v1.get("versions/:id") { _, ctx in
            let id = try ControlServer.id(ctx)
            guard let v = try d.version(id) else { throw ControlError.notFound("no version \(id)") }
            return try ControlServer.json(v)
        }
        v1.get("alerts") { req, _ in
            try ControlServer.json(d.alerts(limit: req.uri.queryParameters.get("limit", as: Int.self) ?? 100))
        }
        v1.get("jobs") { req, _ in
            try ControlServer.json(d.jobs(limit: req.uri.queryParameters.get("limit", as: Int.self) ?? 100))
        }
        v1.get("matrix") { _, _ in try ControlServer.json(LossMatrixView.build(d.versions())) }
        v1.get("events") { _, _ in
            let stream = d.subscribe()
            let body = ResponseBody(asyncSequence: stream.map { ByteBuffer(string: "data: \($0)\n\n") })
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
    }
}
