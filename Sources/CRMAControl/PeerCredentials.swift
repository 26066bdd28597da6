import Glibc
import NIOCore

/// The uid, gid and pid of the process at the other end of the Unix socket (SO_PEERCRED), and the
/// authorisation rule for mutating calls: root, the daemon's own uid, or a configured uid or gid.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public static func of(_ channel: any Channel) async throws -> PeerCredentials {
        guard let provider = channel as? any SocketOptionProvider else { throw ControlError.noCredentials }
        let cred: RawCredentials = try await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: Self.soPeerCred
        ).get()
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)
    }

    /// Linux's `struct ucred` (Glibc hides it behind _GNU_SOURCE): pid, uid, gid.
    struct RawCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// SO_PEERCRED on Linux (asm-generic/socket.h).
    static let soPeerCred = SocketOptionName(17)

    /// Pure: whether these credentials may change state.
    public func mayMutate(daemonUID: UInt32, allowedUIDs: [UInt32], allowedGIDs: [UInt32]) -> Bool {
        uid == 0 || uid == daemonUID || allowedUIDs.contains(uid) || allowedGIDs.contains(gid)
    }
}
