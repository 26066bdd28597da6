import ArgumentParser
import CRMAWire
import Foundation

/// Load while training: many clients poll crmad's status while it trains on the real model; reports the
/// status latency percentiles and the training throughput before, during and after the load.
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Poll crmad's /v1/status from many clients while it trains: latency percentiles and training slowdown.",
        discussion: """
            Starts the crmad binary (a separate process, as in production) with a temporary state directory \
            and a long update on the given model, waits until training runs, then measures training \
            throughput (optimizer steps per second, read from the job's progress) for --seconds without \
            load, for --seconds while --clients clients each poll GET /v1/status every --interval seconds \
            (a new connection per request, as crmactl does), and for --seconds after. The drop is the load \
            window's throughput against the mean of the two quiet windows. Targets (issue 6): p99 below \
            50 ms, drop below 10%.
            """)

    @Option(help: "The crmad binary.")
    var crmad = ".build/release/crmad"

    @Option(help: "Model file or directory for crmad.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "Concurrent polling clients.")
    var clients = 100

    @Option(help: "Seconds per measurement window (quiet, load, quiet).")
    var seconds = 60.0

    @Option(help: "Seconds between one client's polls.")
    var interval = 1.0

    @Option(help: "Tokens per training sequence of the update (sets the length of a step).")
    var sequenceLength = 128

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let work = NSTemporaryDirectory() + "crma-soak-\(getpid())"
        try FileManager.default.createDirectory(atPath: "\(work)/inbox/soak", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let socketPath = "\(work)/crmad.sock"
        let modelPath = URL(fileURLWithPath: model).standardizedFileURL.path
        try """
        [paths]
        state_dir = "\(work)/state"
        inbox = "\(work)/inbox"
        socket = "\(socketPath)"
        [model]
        path = "\(modelPath)"
        [training]
        steps = 100000
        batch_rows = 1
        sequence_length = \(sequenceLength)
        checkpoint_interval = 100000
        [monitor]
        benchmarks = ""
        [ingest]
        debounce_seconds = 0.0
        """.write(toFile: "\(work)/crmad.toml", atomically: true, encoding: .utf8)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: crmad)
        daemon.arguments = ["--config", "\(work)/crmad.toml"]
        daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
        daemon.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try daemon.run()
        defer {
            daemon.terminate()
            daemon.waitUntilExit()
        }
        let client = StatusClient(socket: socketPath)
        try wait("crmad to answer", seconds: 300) { (try? client.status()) != nil }
        let text = (0..<400).map { i in
            "{\"text\": \"Record \(i): the patient received \(i % 7 + 1) mg of the study drug; blood pressure was \(100 + i % 40) over \(60 + i % 20), and the follow-up visit in week \(i % 12 + 1) found no adverse events.\"}"
        }.joined(separator: "\n")
        try text.write(toFile: "\(work)/inbox/soak/.notes.jsonl", atomically: true, encoding: .utf8)
        rename("\(work)/inbox/soak/.notes.jsonl", "\(work)/inbox/soak/notes.jsonl")
        try wait("training to start", seconds: 600) { ((try? client.step()) ?? 0) >= 3 }
        log("training runs; quiet window of \(Int(seconds)) s")

        let before = try throughput(client)
        log(String(format: "quiet: %.3f steps/s; load window: %d clients every %.1f s", before, clients, interval))
        let load = LoadGenerator(socket: socketPath, clients: clients, interval: interval)
        load.start()
        let during = try throughput(client)
        let samples = load.stop()
        log(String(format: "load: %.3f steps/s; quiet window again", during))
        let after = try throughput(client)
        let quiet = (before + after) / 2
        let latencies = samples.latencies.sorted()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(p * Double(latencies.count)))] * 1000
        }
        let result: [String: Any] = [
            "clients": clients, "interval_seconds": interval, "window_seconds": seconds,
            "requests": latencies.count, "errors": samples.errors,
            "latency_ms": ["p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99), "max": percentile(1)],
            "steps_per_second": ["before": before, "during": during, "after": after],
            "throughput_drop_percent": 100 * (quiet - during) / quiet,
            "model": model, "sequence_length": sequenceLength,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                String(
                    format:
                        "%d clients polling every %.1f s: %d requests, %d errors; latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
                    clients, interval, latencies.count, samples.errors, percentile(0.5), percentile(0.9),
                    percentile(0.99), percentile(1)))
            print(
                String(
                    format: "training: %.3f steps/s before, %.3f during, %.3f after: drop %.1f%%", before, during, after,
                    100 * (quiet - during) / quiet))
        }
    }

    /// Optimizer steps per second over one window, from the job's progress.
    private func throughput(_ client: StatusClient) throws -> Double {
        let s0 = try client.step(), t0 = Measure.now()
        Thread.sleep(forTimeInterval: seconds)
        let s1 = try client.step(), t1 = Measure.now()
        return Double(s1 - s0) / (t1 - t0)
    }

    private func wait(_ what: String, seconds: Double, _ done: () -> Bool) throws {
        let deadline = Measure.now() + seconds
        while !done() {
            guard Measure.now() < deadline else { throw ValidationError("timed out waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    private func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}

/// One HTTP/1.1 request per connection on a Unix socket, blocking.
struct StatusClient: Sendable {
    let socket: String

    func get(_ path: String) throws -> Data {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("socket(): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in socket.utf8.enumerated() where i < p.count - 1 { p[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard ok == 0 else { throw ValidationError("connect(\(socket)): \(String(cString: strerror(errno)))") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: crmad\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress!, $0.count, 0) }) == request.count else {
            throw ValidationError("send failed")
        }
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        guard out.starts(with: Array("HTTP/1.1 200".utf8)) else { throw ValidationError("status was not 200") }
        return out
    }

    func status() throws -> DaemonStatus {
        let data = try get("/v1/status")
        guard let split = data.range(of: Data("\r\n\r\n".utf8)),
            let status = try? JSONDecoder().decode(DaemonStatus.self, from: data[split.upperBound...])
        else { throw ValidationError("status is not JSON") }
        return status
    }

    /// The running job's step (0 when none).
    func step() throws -> Int { try status().job?.step ?? 0 }
}

/// `clients` threads, each polling /v1/status on its own schedule, recording latency.
final class LoadGenerator: @unchecked Sendable {
    let client: StatusClient
    let clients: Int
    let interval: Double
    private let lock = NSLock()
    private var latencies: [Double] = []
    private var errors = 0
    private var running = true
    private let done = DispatchGroup()

    init(socket: String, clients: Int, interval: Double) {
        client = StatusClient(socket: socket)
        self.clients = clients
        self.interval = interval
    }

    func start() {
        for k in 0..<clients {
            done.enter()
            Thread.detachNewThread { [self] in
                // Spread the clients' first polls over one interval, as independent pollers would be.
                var next = Measure.now() + interval * Double(k) / Double(clients)
                while lock.withLock({ running }) {
                    let wait = next - Measure.now()
                    if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                    let t0 = Measure.now()
                    let ok = (try? client.get("/v1/status")) != nil
                    let dt = Measure.now() - t0
                    lock.withLock {
                        if ok { latencies.append(dt) } else { errors += 1 }
                    }
                    next += interval
                }
                done.leave()
            }
        }
    }

    func stop() -> (latencies: [Double], errors: Int) {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { (latencies, errors) }
    }
}
