import Dispatch

/// A raw pointer that may cross into `concurrentPerform` workers.
///
/// - Important: `@unchecked Sendable` is safe only because every caller partitions the buffer so that
///   no two workers write the same element.
public struct SendablePointer<T>: @unchecked Sendable {
    public let p: UnsafeMutablePointer<T>
    public init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}

public enum Parallel {
    /// Runs `body(chunk)` for `chunks` disjoint chunks on the machine's cores and waits for all.
    public static func forEach(_ chunks: Int, _ body: @Sendable (Int) -> Void) {
        if chunks <= 1 { if chunks == 1 { body(0) }; return }
        DispatchQueue.concurrentPerform(iterations: chunks, execute: body)
    }
}
