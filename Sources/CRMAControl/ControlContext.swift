import Hummingbird
import NIOCore

/// The request context of the control API: keeps the connection's channel so handlers can read the
/// peer's credentials (SO_PEERCRED) before a mutating call.
public struct ControlContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Request bodies are small JSON objects.
    public var maxUploadSize: Int { 64 * 1024 }
}
