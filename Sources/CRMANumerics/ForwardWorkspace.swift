/// Named scratch buffers reused across forward calls, so steady-state scoring allocates (and the kernel
/// zero-fills) nothing. A buffer is valid until the next request for the same name.
///
/// - Important: one workspace per thread of work.
public final class ForwardWorkspace {
    private var buffers: [String: FloatBuffer] = [:]

    public init() {}

    /// A buffer of at least `count` floats (contents unspecified).
    public func buffer(_ name: String, _ count: Int) -> FloatBuffer {
        if let b = buffers[name], b.count >= count { return b }
        let b = FloatBuffer(count: count)
        buffers[name] = b
        return b
    }
}
