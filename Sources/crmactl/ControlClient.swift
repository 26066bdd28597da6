import CRMAWire
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

    /// Sends the request, with `body` encoded as its JSON; `onChunk` receives body bytes as they arrive.
    /// Returns the status code.
    func send(
        _ method: HTTPMethod, _ path: String, body: (any Encodable)? = nil, onChunk: @escaping @Sendable (Data) -> Void
    ) throws -> Int {
        let json = try body.map { try JSONEncoder().encode($0) }
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
        let bytes = json ?? Data()
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "crmad")
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Content-Length", value: "\(bytes.count)")
        if json != nil { head.headers.add(name: "Content-Type", value: "application/json") }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !bytes.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer { _ = channel.close(mode: .all) }
        return try done.futureResult.wait()
    }

    /// The whole body of a successful response; HTTP errors become a Failure with the daemon's message
    /// (the ``ErrorBody``'s, or the body as text when it is not one).
    func call(_ method: HTTPMethod, _ path: String, body: (any Encodable)? = nil) throws -> Data {
        let buffer = Buffer()
        let status = try send(method, path, body: body) { buffer.append($0) }
        let data = buffer.data
        guard (200..<300).contains(status) else {
            let message =
                (try? JSONDecoder().decode(ErrorBody.self, from: data))?.error.message
                ?? String(decoding: data, as: UTF8.self)
            throw Failure(description: "crmad: \(message) (HTTP \(status))", exitCode: ExitCodes.forStatus(status))
        }
        return data
    }

    /// `data` decoded as the wire type `T`; an answer that is not JSON, or not a `T` (a crmad of another
    /// version), is a Failure with exit code 70.
    static func decode<T: Decodable>(_: T.Type, from data: Data, path: String) throws -> T {
        do {
            return try WireJSON.decoder().decode(T.self, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw notJSON
        } catch {
            throw Failure(
                description:
                    "crmad's answer to \(path) is not what this crmactl expects (\(error)); are crmad and crmactl the same version?",
                exitCode: ExitCodes.software)
        }
    }

    /// The daemon's JSON for `--json`, indented with sorted keys. Only the layout changes: no field is
    /// read, so fields this crmactl does not know pass through.
    static func reindented(_ data: Data) throws -> String {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw notJSON
        }
        let pretty = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed])
        return String(decoding: pretty, as: UTF8.self)
    }

    static let notJSON = Failure(description: "crmad sent something that is not JSON", exitCode: ExitCodes.software)

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
