import Foundation

/// inotify on the inbox: IN_CLOSE_WRITE and IN_MOVED_TO on every domain directory, IN_CREATE and
/// IN_MOVED_TO on the inbox itself (new domain directories, or files dropped where they do not belong).
/// Events become calls; a queue overflow asks for a full rescan.
public final class InboxWatcher: @unchecked Sendable {
    public enum Event: Equatable, Sendable {
        /// A file finished arriving in `inbox/<domain>/<name>`.
        case file(domain: String, name: String)
        /// Something appeared directly in the inbox, or events were lost: scan everything.
        case rescan
    }

    let inbox: String
    let fd: Int32
    var directories: [Int32: String] = [:]
    let lock = NSLock()

    public init(inbox: String) throws {
        self.inbox = inbox
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw Failure(call: "inotify_init1", path: inbox, errno: errno) }
        let root = inotify_add_watch(fd, inbox, UInt32(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR))
        guard root >= 0 else { throw Failure(call: "inotify_add_watch", path: inbox, errno: errno) }
        directories[root] = ""
        for name in (try? FileManager.default.contentsOfDirectory(atPath: inbox)) ?? [] { watch(domain: name) }
    }

    deinit { close(fd) }

    /// inotify could not be set up (e.g. fs.inotify.max_user_instances reached).
    public struct Failure: Error, CustomStringConvertible {
        public var call: String
        public var path: String
        public var errno: Int32
        public var description: String { "\(call) \(path): \(String(cString: strerror(errno)))" }
    }

    /// Starts watching `inbox/<domain>` (no-op for dot-directories and non-directories).
    public func watch(domain: String) {
        guard !domain.hasPrefix("."), DomainName.isValid(domain) else { return }
        let wd = inotify_add_watch(
            fd, "\(inbox)/\(domain)", UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW))
        if wd >= 0 {
            lock.lock()
            directories[wd] = domain
            lock.unlock()
        }
    }

    /// Waits up to `timeout` seconds and returns the events that arrived (maybe none).
    public func poll(timeout: Double) -> [Event] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&p, 1, Int32(timeout * 1000)) > 0 else { return [] }
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        var events: [Event] = []
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            var off = 0
            while off + MemoryLayout<inotify_event>.size <= n {
                let (wd, mask, len) = buf.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                    let e = raw.loadUnaligned(fromByteOffset: off, as: inotify_event.self)
                    return (e.wd, e.mask, Int(e.len))
                }
                let nameStart = off + MemoryLayout<inotify_event>.size
                let nameBytes = buf[nameStart..<min(nameStart + len, n)].prefix { $0 != 0 }
                let name = String(decoding: nameBytes, as: UTF8.self)
                off = nameStart + len
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    events.append(.rescan)
                    continue
                }
                lock.lock()
                let domain = directories[wd]
                lock.unlock()
                guard let domain else { continue }
                if domain.isEmpty {
                    // In the inbox itself: a new domain directory (watch it, then scan what it already
                    // holds) or a stray file (the scan rejects it).
                    if !name.hasPrefix(".") {
                        watch(domain: name)
                        events.append(.rescan)
                    }
                } else if mask & UInt32(IN_CREATE) != 0 {
                    // A regular file is taken when it is closed after writing; anything else created
                    // (symlink, FIFO, socket, device, directory) never will be, so it is judged now.
                    var st = stat()
                    if lstat("\(inbox)/\(domain)/\(name)", &st) == 0, st.st_mode & S_IFMT != S_IFREG {
                        events.append(.file(domain: domain, name: name))
                    }
                } else {
                    events.append(.file(domain: domain, name: name))
                }
            }
        }
        return events
    }
}
