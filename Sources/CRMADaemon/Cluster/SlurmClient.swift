import Foundation

/// Slurm's command-line tools as the slurm engine uses them: submit a worker for a job directory, read a
/// job's state, find a job by name, cancel. Each call runs one command with a time limit; a command that
/// fails is a ``SlurmError`` with its output, never a crash.
public struct SlurmClient: Sendable {
    public let partition: String
    public let extraArguments: [String]
    /// Seconds a command may take before it is killed (a controller that does not answer).
    public var timeout: Double = 30

    public init(partition: String, extraArguments: [String]) {
        self.partition = partition
        self.extraArguments = extraArguments
    }

    /// What Slurm says about one job.
    public struct JobInfo: Equatable, Sendable {
        public var state: String
        public var node: String
    }

    /// Submits `crmad worker DIR` as a batch job named `name`, its output in the directory; returns its id.
    /// Slurm does not requeue it on its own (`--no-requeue`): crmad counts resubmissions.
    public func submit(_ dir: JobDirectory, name: String, crmad: String) throws -> String {
        let script = "\(dir.path)/job.sh"
        let text = """
            #!/bin/sh
            # crmad's worker for this update (cluster.engine = "slurm"); crmad resubmits it after TIMEOUT,
            # NODE_FAIL or PREEMPTED and it resumes from this directory's checkpoint.
            exec \(Self.quoted(crmad)) worker \(Self.quoted(dir.path))

            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: script))
        chmod(script, 0o750)
        var args = [
            "sbatch", "--parsable", "--no-requeue", "--open-mode=append", "--job-name=\(name)",
            "--output=\(dir.standardOutput)", "--error=\(dir.standardError)", "--chdir=\(dir.path)",
        ]
        if !partition.isEmpty { args.append("--partition=\(partition)") }
        args += extraArguments + [script]
        let out = try run(args)
        // --parsable prints "id" or "id;cluster".
        let id = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SlurmError(command: "sbatch", status: 0, output: "no job id in its output: \(out)")
        }
        return id
    }

    /// The job's state and node: from `squeue` while slurmctld remembers it, else from accounting (`sacct`,
    /// or `sacct -c` where only job completion logging is configured). Nil when nothing knows the job.
    public func info(_ id: String) throws -> JobInfo? {
        if let out = try? run(["squeue", "-h", "-t", "all", "-j", id, "-o", "%T|%N"]), let i = Self.parse(out) {
            return i
        }
        for args in [
            ["sacct", "-n", "-P", "-X", "-j", id, "-o", "State,NodeList"],
            ["sacct", "-c", "-n", "-P", "-j", id, "-o", "State,NodeList"],
        ] {
            if let out = try? run(args), let i = Self.parse(out) { return i }
        }
        // Is the controller there at all? Then the job is unknown; else this throws: the controller's failure,
        // never the job's.
        try run(["squeue", "-h", "-o", "%i"])
        return nil
    }

    /// The id of a job named `name` that slurmctld (or, once it forgot the job, accounting) knows: adoption
    /// after a crash between sbatch and storing its id. Nil when none.
    public func find(name: String) throws -> String? {
        func last(_ out: String) -> String? {
            out.split(whereSeparator: \.isNewline).map { String($0.prefix { $0 != "|" }) }.filter { !$0.isEmpty }.last
        }
        if let id = last(try run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%i"])) { return id }
        return (try? run(["sacct", "-n", "-P", "-X", "--name", name, "-o", "JobID"])).flatMap(last)
    }

    public func cancel(_ id: String) throws { try run(["scancel", id]) }

    /// Cancels whatever runs under `name` (nothing when no such job runs).
    public func cancel(name: String) throws { try run(["scancel", "--name", name]) }

    /// "STATE|NODE" lines: the last one (the job's current record).
    static func parse(_ out: String) -> JobInfo? {
        guard let line = out.split(whereSeparator: \.isNewline).last(where: { !$0.isEmpty }) else { return nil }
        let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard let state = parts.first, !state.isEmpty else { return nil }
        return JobInfo(state: state, node: parts.count > 1 ? parts[1] : "")
    }

    static func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Runs `args` (PATH lookup), returns its standard output; throws on a non-zero exit unless accepted,
    /// or when it does not finish within ``timeout``.
    @discardableResult
    func run(_ args: [String], acceptFailure: Bool = false) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            throw SlurmError(command: args[0], status: -1, output: "cannot run it: \(error)")
        }
        // Read while it runs (a full pipe would block it), with a deadline.
        let deadline = Date().addingTimeInterval(timeout)
        let collected = OutputCollector(out: out, err: err)
        while p.isRunning {
            if Date() > deadline {
                p.terminate()
                p.waitUntilExit()
                throw SlurmError(command: args[0], status: -1, output: "no answer within \(Int(timeout)) s")
            }
            usleep(10_000)
        }
        p.waitUntilExit()
        let (stdout, stderr) = collected.finish()
        if p.terminationStatus != 0 && !acceptFailure {
            throw SlurmError(command: args.joined(separator: " "), status: p.terminationStatus, output: stderr + stdout)
        }
        return stdout
    }
}

/// Reads a process's two pipes on background threads until they close.
private final class OutputCollector: @unchecked Sendable {
    private var outData = Data(), errData = Data()
    private let group = DispatchGroup()

    init(out: Pipe, err: Pipe) {
        group.enter()
        DispatchQueue.global().async { [self] in
            outData = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async { [self] in
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
    }

    func finish() -> (String, String) {
        group.wait()
        return (String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}

/// A Slurm command that failed or did not answer.
public struct SlurmError: Error, Equatable, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var output: String

    /// The controller could not be reached (or the command did not answer): try again later, it says
    /// nothing about the job.
    public var isUnreachable: Bool {
        status < 0
            || ["Unable to contact slurm controller", "Socket timed out", "Connection refused", "Zero Bytes were transmitted"]
                .contains { output.contains($0) }
    }

    public var description: String {
        let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return status < 0 ? "\(command): \(text)" : "\(command) exited \(status): \(text.isEmpty ? "no output" : text)"
    }
}
