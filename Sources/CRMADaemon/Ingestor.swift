import CRMAModel
import CRMATraining
import Foundation

/// Takes files out of the inbox following the durability rules: read through a descriptor opened
/// with O_NOFOLLOW and checked with fstat, stored (fsync'ed blobs) and committed in SQLite, and only
/// then unlinked. Anything refused moves to `inbox/.rejected/` with an `.error.json` beside it.
public final class Ingestor: @unchecked Sendable {
    public enum Outcome: Equatable, Sendable {
        case stored(domain: String, file: String, documents: Int)
        /// Same content already stored for this domain: removed from the inbox, nothing else changes.
        case duplicate(domain: String, file: String)
        case rejected(IngestRejection)
        /// Changed while being read, or still being written: tried again on the next event or scan.
        case deferred(file: String)
        /// Could not be stored (disk full, I/O error): left in the inbox and tried again later.
        case notStored(file: String, reason: String)
    }

    public let inbox: String
    public let registry: Registry
    public let blobs: BlobStore
    public let config: DaemonConfig.Ingest
    public var rejectedDirectory: String { "\(inbox)/.rejected" }
    /// Test hook: runs between reading a file and checking it did not change meanwhile.
    var afterRead: ((String) -> Void)?

    public init(inbox: String, registry: Registry, blobs: BlobStore, config: DaemonConfig.Ingest) throws {
        self.inbox = inbox
        self.registry = registry
        self.blobs = blobs
        self.config = config
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(inbox)/.rejected", withIntermediateDirectories: true)
    }

    /// Every entry of the inbox, domain by domain (the start-up rescan, and the fallback when inotify
    /// overflows).
    public func scan() -> [Outcome] {
        var out = rejectUndecodableNames(in: nil)
        for top in Self.list(inbox).sorted() where !top.hasPrefix(".") {
            let path = "\(inbox)/\(top)"
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if IngestValidator.ObjectKind(mode: st.st_mode) != .directory {
                if IngestValidator.classify(name: top) == .ignoreForNow { continue }
                out.append(
                    reject(
                        IngestRejection(
                            .outsideDomain, file: top, what: "files must be inside a domain directory",
                            fix: "move it to inbox/<domain>/\(top), e.g. inbox/general/\(top)"), path: path, as: top))
                continue
            }
            if let why = DomainName.validate(top) {
                out.append(
                    reject(
                        IngestRejection(.badDomain, file: top, what: why, fix: "rename the directory and drop the files again"),
                        path: path, as: top))
                continue
            }
            out += rejectUndecodableNames(in: top)
            for name in Self.list(path).sorted() where !name.contains("\u{FFFD}") {
                out.append(ingest(domain: top, name: name))
            }
        }
        return out.filter { if case .deferred = $0 { false } else { true } }
    }

    /// One file `inbox/<domain>/<name>`.
    public func ingest(domain: String, name: String) -> Outcome {
        let rel = "\(domain)/\(name)"
        let path = "\(inbox)/\(rel)"
        // A name that is not UTF-8 reaches us decoded with U+FFFD: find and move it by its bytes.
        if name.contains("\u{FFFD}") {
            return rejectUndecodableNames(in: domain).first ?? .deferred(file: rel)
        }
        switch IngestValidator.classify(name: name) {
        case .ignoreForNow: return .deferred(file: rel)
        case .reject(let why):
            return reject(
                IngestRejection(.badName, file: rel, what: why, fix: "rename the file to plain printable characters"),
                path: path, as: rel)
        case .consider: break
        }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        if fd < 0 {
            let e = errno
            if e == ENOENT { return .deferred(file: rel) }
            var st = stat()
            if lstat(path, &st) == 0, IngestValidator.ObjectKind(mode: st.st_mode) == .symlink {
                return reject(
                    IngestValidator.check(kind: .symlink, links: 1, size: 0, maxBytes: 0, file: rel)!, path: path, as: rel)
            }
            if lstat(path, &st) == 0, IngestValidator.ObjectKind(mode: st.st_mode) != .regular {
                return reject(
                    IngestValidator.check(
                        kind: IngestValidator.ObjectKind(mode: st.st_mode), links: 1, size: 0, maxBytes: 0, file: rel)!,
                    path: path, as: rel)
            }
            return reject(unreadable(rel, errno: e), path: path, as: rel)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .deferred(file: rel) }
        if let r = IngestValidator.check(
            kind: .init(mode: st.st_mode), links: Int(st.st_nlink), size: Int(st.st_size),
            maxBytes: config.maxFileBytes, file: rel)
        {
            return reject(r, path: path, as: rel)
        }
        guard let data = Self.readAll(fd, limit: config.maxFileBytes) else {
            return reject(
                IngestRejection(
                    .unreadable, file: rel, what: "reading it failed: \(String(cString: strerror(errno)))",
                    fix: "check the file and the disk, then drop it again"), path: path, as: rel)
        }
        afterRead?(path)
        // A file that grew, shrank or was rewritten while we read it is not taken half-written.
        var after = stat()
        if fstat(fd, &after) != 0 || after.st_size != st.st_size || after.st_mtim.tv_nsec != st.st_mtim.tv_nsec
            || after.st_mtim.tv_sec != st.st_mtim.tv_sec || data.count != Int(st.st_size)
        {
            return .deferred(file: rel)
        }
        let docs: [TrainingExample]
        switch IngestValidator.documents(data, name: name, file: rel, maxDocuments: config.maxDocuments) {
        case .failure(let r): return reject(r, path: path, as: rel)
        case .success(let d): docs = d
        }
        do {
            let fileHash = SHA256.hex(data)
            if try registry.hasFile(fileHash, domain: domain) {
                try removeFromInbox(path, expecting: st)
                return .duplicate(domain: domain, file: rel)
            }
            try blobs.put(data)
            var records: [(hash: String, role: String, blob: String)] = []
            for d in docs {
                let line = IngestValidator.jsonLine(d)
                let blob = try blobs.put(line)
                records.append((SHA256.hex(Data(d.canonicalText.utf8)), "train", blob))
            }
            let roles = try Self.sides(
                positions: docs.map { HoldoutSplit.position(StoredDomain.splitKey($0)) }, fraction: config.holdoutFraction,
                storedTrain: registry.documentCount(domain: domain, role: "train"),
                storedHoldout: registry.documentCount(domain: domain, role: "holdout"))
            for i in records.indices { records[i].role = roles[i] }
            let file = FileRecord(
                hash: fileHash, domain: domain, name: name, bytes: data.count, documents: docs.count,
                ingestedAt: Date().timeIntervalSince1970)
            let isNew = try registry.recordFile(file, documents: records)
            try removeFromInbox(path, expecting: st)
            return isNew ? .stored(domain: domain, file: rel, documents: docs.count) : .duplicate(domain: domain, file: rel)
        } catch {
            // Disk full or I/O error: the file stays in the inbox and is tried again later.
            return .notStored(file: rel, reason: "\(error)")
        }
    }

    /// The side of each new document of a domain: "holdout" when its hash position is below `fraction`.
    /// A domain must have a holdout to be judged, so when it would still have none with two documents or
    /// more, the new document with the lowest position is held out. Only new documents are ever assigned:
    /// a stored document never changes side, however many documents arrive later.
    static func sides(positions: [Double], fraction: Double, storedTrain: Int, storedHoldout: Int) -> [String] {
        var roles = positions.map { $0 < fraction ? "holdout" : "train" }
        if storedHoldout == 0, !roles.contains("holdout"), storedTrain + positions.count >= 2,
            let lowest = positions.indices.min(by: { positions[$0] < positions[$1] })
        {
            roles[lowest] = "holdout"
        }
        return roles
    }

    /// The refusal of a file that cannot be opened (`errno`), with what to do about it.
    func unreadable(_ rel: String, errno e: Int32) -> IngestRejection {
        IngestRejection(
            .unreadable, file: rel, what: "cannot open it: \(String(cString: strerror(e)))",
            fix: "make it readable by the crmad user (chmod o+r or chgrp crmad)")
    }

    /// Moves every entry of `inbox/<domain>` (or of the inbox itself, `domain == nil`) whose name is not
    /// valid UTF-8 to .rejected, renamed by its bytes with the invalid ones written as %XX.
    func rejectUndecodableNames(in domain: String?) -> [Outcome] {
        let dir = domain.map { "\(inbox)/\($0)" } ?? inbox
        var out: [Outcome] = []
        for raw in Self.rawNames(dir) where String(validating: raw, as: UTF8.self) == nil {
            let shown = Self.escaped(raw)
            let rel = domain.map { "\($0)/\(shown)" } ?? shown
            let r =
                domain == nil
                ? IngestRejection(
                    .badDomain, file: rel, what: "the directory name is not valid UTF-8",
                    fix: "rename it to a-z, 0-9, '_' and '-' and drop the files again")
                : IngestRejection(
                    .badName, file: rel, what: "the file name is not valid UTF-8",
                    fix: "rename the file to plain printable characters")
            let from = Array(dir.utf8) + [UInt8(ascii: "/")] + raw
            let flat = rel.replacingOccurrences(of: "/", with: "__")
            let parked = "\(inbox)/.rejected/.undecodable-\(getpid())-\(out.count)"
            // Rename by bytes to a decodable temporary name, then let `reject` file it as usual.
            let moved = (from + [0]).withUnsafeBufferPointer { src in
                rename(UnsafeRawPointer(src.baseAddress!).assumingMemoryBound(to: CChar.self), parked) == 0
            }
            guard moved else { continue }
            out.append(reject(r, path: parked, as: flat))
        }
        return out
    }

    /// Directory entries as raw bytes (no decoding), without "." and "..".
    static func rawNames(_ dir: String) -> [[UInt8]] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [[UInt8]] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names
    }

    /// Bytes as text, each byte that is not part of valid UTF-8 written as %XX.
    static func escaped(_ raw: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < raw.count {
            var decoded = false
            for len in (1...4).reversed() where i + len <= raw.count {
                if let s = String(validating: raw[i..<(i + len)], as: UTF8.self), s.unicodeScalars.count == 1 {
                    out += s
                    i += len
                    decoded = true
                    break
                }
            }
            if !decoded {
                out += "%" + String(raw[i], radix: 16, uppercase: true)
                i += 1
            }
        }
        return out
    }

    /// Unlinks the ingested file only if the name still refers to the file we read.
    func removeFromInbox(_ path: String, expecting st: stat) throws {
        var now = stat()
        if lstat(path, &now) == 0, now.st_ino == st.st_ino, now.st_dev == st.st_dev { unlink(path) }
        AtomicFile.syncDirectory(of: path)
    }

    /// Moves the entry to `.rejected/` (keeping it; nothing is deleted) with an explanation beside it.
    func reject(_ r: IngestRejection, path: String, as rel: String) -> Outcome {
        let flat = rel.replacingOccurrences(of: "/", with: "__")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
        var target = "\(rejectedDirectory)/\(flat)"
        var n = 1
        while FileManager.default.fileExists(atPath: target) || (try? FileManager.default.destinationOfSymbolicLink(atPath: target)) != nil {
            n += 1
            target = "\(rejectedDirectory)/\(flat).\(n)"
        }
        if rename(path, target) != 0 { target = path }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        struct Note: Encodable {
            var rejection: IngestRejection
            var kept_at: String
            var time: String
        }
        if let data = try? enc.encode(
            Note(rejection: r, kept_at: target, time: ISO8601DateFormatter().string(from: Date())))
        {
            try? AtomicFile.write(data, to: "\(target).error.json", mode: 0o640)
        }
        AtomicFile.syncDirectory(of: path)
        return .rejected(r)
    }

    static func list(_ dir: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    }

    static func readAll(_ fd: Int32, limit: Int) -> Data? {
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
            if out.count > limit { return out }
        }
    }
}
