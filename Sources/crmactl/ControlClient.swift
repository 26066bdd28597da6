import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// HTTP/1.1 over the daemon's Unix socket with SwiftNIO: one request per connection; the body is
/// delivered in chunks as it arrives (so server-sent events stream).
struct ControlClient {
    let socket: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
        var exitCode: Int32
    }

    /// Sends the request; `onChunk` receives body bytes as they arrive. Returns the status code.
    func send(
        _ method: HTTPMethod, _ path: String, json: [String: Any]? = nil, onChunk: @escaping @Sendable (Data) -> Void
    ) throws -> Int {
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.next().makePromise(of: Int.self)
        let handler = ResponseHandler(done: done, onChunk: onChunk)
        let channel: any Channel
        do {
            channel = try ClientBootstrap(group: group)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHTTPClientHandlers()
                        try ch.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(unixDomainSocketPath: socket).wait()
        } catch {
            done.fail(error)
            throw Failure(
                description:
                    "cannot reach crmad at \(socket) (\(error)). Is it running (systemctl status crmad)? Is --socket right?",
                exitCode: ExitCodes.unavailable)
        }
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "crmad")
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Content-Length", value: "\(body.count)")
        if json != nil { head.headers.add(name: "Content-Type", value: "application/json") }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer { _ = channel.close(mode: .all) }
        return try done.futureResult.wait()
    }

    /// A whole JSON response; HTTP errors become a Failure with the daemon's message.
    func call(_ method: HTTPMethod, _ path: String, json: [String: Any]? = nil) throws -> Any {
        let buffer = Buffer()
        let status = try send(method, path, json: json) { buffer.append($0) }
        let data = buffer.data
        let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        guard (200..<300).contains(status) else {
            let err = (object as? [String: Any])?["error"] as? [String: Any]
            let message = err?["message"] as? String ?? String(decoding: data, as: UTF8.self)
            throw Failure(description: "crmad: \(message) (HTTP \(status))", exitCode: ExitCodes.forStatus(status))
        }
        guard let object else {
            throw Failure(description: "crmad sent something that is not JSON", exitCode: ExitCodes.software)
        }
        return object
    }

    final class Buffer: @unchecked Sendable {
        private let lock = NSLock()
        private var bytes = Data()
        func append(_ d: Data) {
            lock.lock()
            bytes.append(d)
            lock.unlock()
        }
        func reset(_ d: Data) {
            lock.lock()
            bytes = d
            lock.unlock()
        }
        var data: Data {
            lock.lock()
            defer { lock.unlock() }
            return bytes
        }
    }
}

final class ResponseHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    let done: EventLoopPromise<Int>
    let onChunk: @Sendable (Data) -> Void
    var status = 0
    var finished = false

    init(done: EventLoopPromise<Int>, onChunk: @escaping @Sendable (Data) -> Void) {
        self.done = done
        self.onChunk = onChunk
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): status = Int(h.status.code)
        case .body(var b): onChunk(Data(b.readBytes(length: b.readableBytes) ?? []))
        case .end:
            finish(.success(status))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(status > 0 ? .success(status) : .failure(ChannelError.eof))
    }

    func finish(_ r: Result<Int, any Error>) {
        guard !finished else { return }
        finished = true
        done.completeWith(r)
    }
}

/// crmactl's exit codes (sysexits.h), listed in `crmactl --help`.
enum ExitCodes {
    static let ok: Int32 = 0
    /// 4xx other than 403/404: the request was refused (bad input, conflict).
    static let dataError: Int32 = 65
    /// 404: no such version, job or domain.
    static let noInput: Int32 = 66
    /// The daemon is not reachable.
    static let unavailable: Int32 = 69
    /// 5xx or a malformed answer.
    static let software: Int32 = 70
    /// 403: this user may not change state.
    static let noPermission: Int32 = 77

    static func forStatus(_ s: Int) -> Int32 {
        switch s {
        case 403: noPermission
        case 404: noInput
        case 400..<500: dataError
        default: software
        }
    }
}
