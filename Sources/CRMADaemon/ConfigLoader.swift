import CRMAContinual
import CRMAMonitor
import CRMAModel
import Foundation

/// Reads `crmad.toml` into ``DaemonConfig``: every key known, every type and range checked, unknown keys
/// refused (a typo must not silently fall back to a default). Errors name the file and the dotted key.
public enum ConfigLoader {
    public static func load(file: String) throws -> DaemonConfig {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(file: file, key: "", reason: "cannot read the file (does it exist, is it readable?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, key: "", reason: "not UTF-8 text")
        }
        return try decode(try ConfigValue.parse(toml: text, file: file), file: file)
    }

    /// Pure: the parsed tree to a validated configuration. Relative paths stay as written (crmad
    /// resolves them against its working directory).
    public static func decode(_ root: ConfigValue, file: String) throws -> DaemonConfig {
        var c = DaemonConfig()
        let top = try Section(root, path: "", file: file)
        try top.only(["paths", "model", "adapter", "training", "monitor", "ingest", "control", "resources", "cluster"])
        if let s = try top.section("paths") {
            try s.only(["state_dir", "inbox", "socket"])
            c.paths.stateDirectory = try s.string("state_dir") ?? c.paths.stateDirectory
            c.paths.inbox = try s.string("inbox") ?? c.paths.inbox
            c.paths.socket = try s.string("socket") ?? c.paths.socket
            if let p = try s.string("socket"), p.utf8.count > 107 {
                throw s.error("socket", "is \(p.utf8.count) bytes; a Unix socket path must be at most 107")
            }
        }
        if let s = try top.section("model") {
            try s.only(["path", "base", "precision"])
            c.model.path = try s.string("path") ?? c.model.path
            // "precision" is the older name of "base".
            let bases = ["auto"] + Precision.allCases.map(\.rawValue)
            if let b = try s.choice("base", bases) {
                if try s.string("precision") != nil {
                    throw s.error("precision", "is the older name of \"base\"; set only base")
                }
                c.model.base = b
            } else if let p = try s.choice("precision", bases) {
                c.model.base = p
            }
            if c.model.base == "bf16" {
                let key = try s.string("base") != nil ? "base" : "precision"
                do { _ = try Precision.parse("bf16") } catch { throw s.error(key, "is \"bf16\", but \(error)") }
            }
        }
        if let s = try top.section("adapter") {
            try s.only(["lora_rank", "lora_alpha", "lora_targets", "crma_mixing"])
            c.adapter.loraRank = try s.int("lora_rank", in: 1...256) ?? c.adapter.loraRank
            c.adapter.loraAlpha = Float(try s.double("lora_alpha", in: 0.001...10_000) ?? Double(c.adapter.loraAlpha))
            if let t = try s.strings("lora_targets") {
                let known = ["q", "k", "v", "o", "gate", "up", "down"]
                for x in t where !known.contains(x) {
                    throw s.error("lora_targets", "unknown projection \"\(x)\"; use some of \(known.joined(separator: ", "))")
                }
                if t.isEmpty { throw s.error("lora_targets", "needs at least one projection") }
                c.adapter.loraTargets = t
            }
            c.adapter.crmaMixing = try s.choice("crma_mixing", ["sinkhorn", "identity"]) ?? c.adapter.crmaMixing
        }
        if let s = try top.section("training") {
            try s.only([
                "strategy", "steps", "epochs", "sequence_length", "batch_rows", "lora_learning_rate",
                "structural_learning_rate", "gate_learning_rate", "checkpoint_interval", "seed", "lwf_alpha",
                "lwf_temperature", "lwf_teacher", "olora_lambda", "replay_ratio", "ewc_lambda", "ewc_gamma",
            ])
            if let name = try s.choice("strategy", Strategy.allCases.map(\.rawValue)) {
                c.training.strategy = Strategy(rawValue: name)!
            }
            let steps = try s.int("steps", in: 1...1_000_000), epochs = try s.double("epochs", in: 0...1000)
            c.training.steps = steps ?? c.training.steps
            // A file that sets steps and not epochs trains for those steps (the default is epochs).
            c.training.epochs = epochs ?? (steps != nil ? 0 : c.training.epochs)
            c.training.sequenceLength = try s.int("sequence_length", in: 16...8192) ?? c.training.sequenceLength
            c.training.batchRows = try s.int("batch_rows", in: 1...1024) ?? c.training.batchRows
            c.training.loraLearningRate =
                Float(try s.double("lora_learning_rate", in: 1e-8...1) ?? Double(c.training.loraLearningRate))
            c.training.structuralLearningRate =
                Float(
                    try s.double("structural_learning_rate", in: 1e-8...1) ?? Double(c.training.structuralLearningRate))
            c.training.gateLearningRate =
                Float(try s.double("gate_learning_rate", in: 1e-8...1) ?? Double(c.training.gateLearningRate))
            c.training.checkpointInterval =
                try s.int("checkpoint_interval", in: 1...1_000_000) ?? c.training.checkpointInterval
            c.training.seed = UInt64(try s.int("seed", in: 0...Int.max) ?? Int(c.training.seed))
            c.training.lwfAlpha = Float(try s.double("lwf_alpha", in: 0...1) ?? Double(c.training.lwfAlpha))
            c.training.lwfTemperature =
                Float(try s.double("lwf_temperature", in: 0.05...100) ?? Double(c.training.lwfTemperature))
            if let t = try s.choice("lwf_teacher", TeacherMode.allCases.map(\.rawValue)) {
                c.training.lwfTeacher = TeacherMode(rawValue: t)!
            }
            c.training.oloraLambda = Float(try s.double("olora_lambda", in: 0...1e6) ?? Double(c.training.oloraLambda))
            c.training.replayRatio = try s.double("replay_ratio", in: 0...1) ?? c.training.replayRatio
            c.training.ewcLambda = Float(try s.double("ewc_lambda", in: 0...1e9) ?? Double(c.training.ewcLambda))
            c.training.ewcGamma = Float(try s.double("ewc_gamma", in: 0...1) ?? Double(c.training.ewcGamma))
        }
        if let s = try top.section("monitor") {
            try s.only([
                "benchmarks", "general_documents", "probe_documents", "multiple_choice_items", "accuracy_warn_points",
                "accuracy_critical_points", "kl_warn", "kl_critical", "warn_percent", "critical_percent",
                "check_interval", "on_breach", "holdout_rows",
            ])
            c.monitor.benchmarks = try s.string("benchmarks") ?? c.monitor.benchmarks
            c.monitor.general.documents = try s.int("general_documents", in: 0...10_000) ?? c.monitor.general.documents
            c.monitor.general.probes = try s.int("probe_documents", in: 0...10_000) ?? c.monitor.general.probes
            c.monitor.general.multipleChoiceItems =
                try s.int("multiple_choice_items", in: 0...100_000) ?? c.monitor.general.multipleChoiceItems
            c.monitor.general.limits.accuracyPoints.warn =
                try s.double("accuracy_warn_points", in: 0...100) ?? c.monitor.general.limits.accuracyPoints.warn
            c.monitor.general.limits.accuracyPoints.critical =
                try s.double("accuracy_critical_points", in: 0...100) ?? c.monitor.general.limits.accuracyPoints.critical
            if c.monitor.general.limits.accuracyPoints.critical < c.monitor.general.limits.accuracyPoints.warn {
                throw s.error("accuracy_critical_points", "is below accuracy_warn_points; critical must be ≥ warn")
            }
            c.monitor.general.limits.kl.warn = try s.double("kl_warn", in: 0...100) ?? c.monitor.general.limits.kl.warn
            c.monitor.general.limits.kl.critical = try s.double("kl_critical", in: 0...100) ?? c.monitor.general.limits.kl.critical
            if c.monitor.general.limits.kl.critical < c.monitor.general.limits.kl.warn {
                throw s.error("kl_critical", "is below kl_warn; critical must be ≥ warn")
            }
            c.monitor.warnPercent = try s.double("warn_percent", in: 0...1000) ?? c.monitor.warnPercent
            c.monitor.criticalPercent = try s.double("critical_percent", in: 0...1000) ?? c.monitor.criticalPercent
            if c.monitor.criticalPercent < c.monitor.warnPercent {
                throw s.error(
                    "critical_percent",
                    "\(c.monitor.criticalPercent) is below warn_percent \(c.monitor.warnPercent); critical must be ≥ warn")
            }
            c.monitor.checkInterval = try s.int("check_interval", in: 0...1_000_000) ?? c.monitor.checkInterval
            if let b = try s.choice("on_breach", DaemonConfig.BreachAction.allCases.map(\.rawValue)) {
                c.monitor.onBreach = DaemonConfig.BreachAction(rawValue: b)!
            }
            c.monitor.holdoutRows = try s.int("holdout_rows", in: 1...100_000) ?? c.monitor.holdoutRows
        }
        if let s = try top.section("ingest") {
            try s.only(["debounce_seconds", "max_file_bytes", "max_documents", "holdout_fraction"])
            c.ingest.debounceSeconds = try s.double("debounce_seconds", in: 0...86_400) ?? c.ingest.debounceSeconds
            c.ingest.maxFileBytes = try s.int("max_file_bytes", in: 1...(1 << 40)) ?? c.ingest.maxFileBytes
            c.ingest.maxDocuments = try s.int("max_documents", in: 1...100_000_000) ?? c.ingest.maxDocuments
            c.ingest.holdoutFraction = try s.double("holdout_fraction", in: 0.01...0.5) ?? c.ingest.holdoutFraction
        }
        if let s = try top.section("control") {
            try s.only([
                "socket_mode", "allowed_uids", "allowed_gids", "idle_timeout_seconds", "max_queued_requests",
                "request_deadline_seconds", "max_completion_tokens", "listen", "token_file", "routing_minimum_similarity",
            ])
            if let m = try s.int("socket_mode", in: 0...0o777) {
                if m & 0o007 != 0 {
                    throw s.error("socket_mode", "grants access to every user (0o\(String(m, radix: 8))); use 0o660 or tighter")
                }
                c.control.socketMode = m
            }
            c.control.allowedUIDs = try s.ids("allowed_uids") ?? c.control.allowedUIDs
            c.control.allowedGIDs = try s.ids("allowed_gids") ?? c.control.allowedGIDs
            c.control.idleTimeoutSeconds =
                try s.double("idle_timeout_seconds", in: 0.1...86_400) ?? c.control.idleTimeoutSeconds
            c.control.maxQueuedRequests = try s.int("max_queued_requests", in: 1...10_000) ?? c.control.maxQueuedRequests
            c.control.requestDeadlineSeconds =
                try s.double("request_deadline_seconds", in: 1...86_400) ?? c.control.requestDeadlineSeconds
            c.control.maxCompletionTokens =
                try s.int("max_completion_tokens", in: 1...1_000_000) ?? c.control.maxCompletionTokens
            c.control.routingMinimumSimilarity =
                try s.double("routing_minimum_similarity", in: -1...1) ?? c.control.routingMinimumSimilarity
            c.control.listen = try s.string("listen") ?? c.control.listen
            c.control.tokenFile = try s.string("token_file") ?? c.control.tokenFile
            if !c.control.listen.isEmpty {
                guard TCPListen(c.control.listen) != nil else {
                    throw s.error("listen", "must be host:port, such as 127.0.0.1:8080 (got \"\(c.control.listen)\")")
                }
                guard !c.control.tokenFile.isEmpty else {
                    throw s.error("token_file", "is required with listen: the TCP listener serves only requests that bear its token")
                }
            }
        }
        if let s = try top.section("resources") {
            try s.only(["blas_threads"])
            c.resources.blasThreads = try s.int("blas_threads", in: 0...1024) ?? c.resources.blasThreads
        }
        if let s = try top.section("cluster") {
            c.cluster = try cluster(s)
        }
        return c
    }

    private static func cluster(_ s: Section) throws -> DaemonConfig.Cluster {
        var c = DaemonConfig.Cluster()
        try s.only(["engine", "shared_dir", "partition", "max_parallel", "sbatch_args", "max_requeues"])
        if let e = try s.choice("engine", DaemonConfig.Cluster.Engine.allCases.map(\.rawValue)) {
            c.engine = DaemonConfig.Cluster.Engine(rawValue: e)!
        }
        c.sharedDirectory = try s.string("shared_dir", emptyAllowed: true) ?? c.sharedDirectory
        c.partition = try s.string("partition", emptyAllowed: true) ?? c.partition
        c.maxParallel = try s.int("max_parallel", in: 1...256) ?? c.maxParallel
        c.maxRequeues = try s.int("max_requeues", in: 0...100) ?? c.maxRequeues
        if let args = try s.strings("sbatch_args") {
            for a in args {
                let flag = String(a.prefix { $0 != "=" })
                if DaemonConfig.Cluster.reservedSbatchArguments.contains(flag) {
                    let instead = ["-p", "--partition"].contains(flag) ? "set partition instead" : "remove it"
                    throw s.error(
                        "sbatch_args", "\"\(a)\" is set by crmad itself (a job's output, name, directory and script); \(instead)")
                }
                if a.isEmpty || !a.hasPrefix("-") {
                    throw s.error("sbatch_args", "\"\(a)\" is not an option; write each as one string, e.g. \"--mem=8G\"")
                }
            }
            c.sbatchArguments = args
        }
        switch c.engine {
        case .slurm:
            guard !c.sharedDirectory.isEmpty else {
                throw s.error(
                    "shared_dir",
                    "is required with engine = \"slurm\": a directory crmad and every compute node see at the same path")
            }
            guard c.sharedDirectory.hasPrefix("/") else {
                throw s.error("shared_dir", "must be an absolute path (the nodes see it at the same path), got \"\(c.sharedDirectory)\"")
            }
        case .local:
            if c.maxParallel > 1 {
                throw s.error(
                    "max_parallel",
                    "is \(c.maxParallel), but the local engine trains one update at a time on crmad's host; set engine = \"slurm\" or max_parallel = 1")
            }
        }
        return c
    }

    /// One TOML table being read, for error messages with the dotted key.
    struct Section {
        let values: [String: ConfigValue]
        let path: String
        let file: String

        init(_ value: ConfigValue, path: String, file: String) throws {
            guard case .table(let d) = value else {
                throw ConfigError(file: file, key: path, reason: "must be a table, found \(value.typeName)")
            }
            values = d
            self.path = path
            self.file = file
        }

        func error(_ key: String, _ reason: String) -> ConfigError {
            ConfigError(file: file, key: path.isEmpty ? key : "\(path).\(key)", reason: reason)
        }

        func only(_ known: [String]) throws {
            for k in values.keys.sorted() where !known.contains(k) {
                throw error(k, "unknown key; known keys here: \(known.joined(separator: ", "))")
            }
        }

        func section(_ key: String) throws -> Section? {
            guard let v = values[key] else { return nil }
            return try Section(v, path: path.isEmpty ? key : "\(path).\(key)", file: file)
        }

        func string(_ key: String, emptyAllowed: Bool = false) throws -> String? {
            guard let v = values[key] else { return nil }
            guard case .string(let s) = v else { throw error(key, "must be a string, found \(v.typeName)") }
            if s.isEmpty && !emptyAllowed && key != "benchmarks" { throw error(key, "must not be empty") }
            return s
        }

        func choice(_ key: String, _ allowed: [String]) throws -> String? {
            guard let s = try string(key) else { return nil }
            guard allowed.contains(s) else {
                throw error(key, "\"\(s)\" is not one of \(allowed.joined(separator: ", "))")
            }
            return s
        }

        func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
            guard let v = values[key] else { return nil }
            guard case .integer(let i) = v else { throw error(key, "must be an integer, found \(v.typeName)") }
            guard range.contains(i) else {
                throw error(key, "\(i) is out of range \(range.lowerBound)...\(range.upperBound)")
            }
            return i
        }

        func double(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
            guard let v = values[key] else { return nil }
            let d: Double
            switch v {
            case .float(let x): d = x
            case .integer(let i): d = Double(i)
            default: throw error(key, "must be a number, found \(v.typeName)")
            }
            guard d.isFinite, range.contains(d) else {
                throw error(key, "\(d) is out of range \(range.lowerBound)...\(range.upperBound)")
            }
            return d
        }

        func strings(_ key: String) throws -> [String]? {
            guard let v = values[key] else { return nil }
            guard case .array(let a) = v else { throw error(key, "must be an array of strings, found \(v.typeName)") }
            return try a.map {
                guard case .string(let s) = $0 else { throw error(key, "must contain strings only, found \($0.typeName)") }
                return s
            }
        }

        func ids(_ key: String) throws -> [UInt32]? {
            guard let v = values[key] else { return nil }
            guard case .array(let a) = v else { throw error(key, "must be an array of integers, found \(v.typeName)") }
            return try a.map {
                guard case .integer(let i) = $0, (0...Int(UInt32.max - 1)).contains(i) else {
                    throw error(key, "must contain ids 0...\(UInt32.max - 1), found \($0)")
                }
                return UInt32(i)
            }
        }
    }
}

extension DaemonConfig {
    /// Checks what the configuration names on disk (at start-up and with `--check-config`): a benchmark
    /// directory that is configured must exist and hold general.jsonl.
    public func checkFiles(configFile: String) throws {
        guard !monitor.benchmarks.isEmpty else { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: monitor.benchmarks, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw ConfigError(
                file: configFile, key: "monitor.benchmarks",
                reason:
                    "\(monitor.benchmarks) does not exist; install the general benchmarks (make install, or make benchmarks for data/benchmarks) or set benchmarks = \"\" to judge updates on domains only")
        }
        let general = (monitor.benchmarks as NSString).appendingPathComponent("general.jsonl")
        guard FileManager.default.fileExists(atPath: general) else {
            throw ConfigError(
                file: configFile, key: "monitor.benchmarks",
                reason: "\(monitor.benchmarks) has no general.jsonl; run make benchmarks or point benchmarks at a directory that has it")
        }
    }
}

extension DaemonConfig {
    /// The TCP listener's bearer token, read from `control.token_file` (nil without `control.listen`). The
    /// file must hold at least 16 characters and be readable by its owner and group only.
    public func bearerToken(configFile: String) throws -> String? {
        guard !control.listen.isEmpty else { return nil }
        let path = control.tokenFile
        var st = stat()
        guard stat(path, &st) == 0, let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(
                file: configFile, key: "control.token_file",
                reason: "cannot read \(path); create it (e.g. `openssl rand -hex 32 > \(path)`) readable by the service user only")
        }
        guard st.st_mode & 0o007 == 0 else {
            throw ConfigError(
                file: configFile, key: "control.token_file",
                reason: "\(path) is readable by every user (mode 0o\(String(st.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16, !token.contains(where: \.isWhitespace) else {
            throw ConfigError(
                file: configFile, key: "control.token_file",
                reason: "\(path) must hold one token of at least 16 characters (e.g. `openssl rand -hex 32`)")
        }
        return token
    }
}

extension DaemonConfig {
    /// Slurm's commands crmad runs (submit, follow, cancel; sacct too where accounting is configured).
    static let slurmCommands = ["sbatch", "squeue", "scancel"]

    /// Checks what `[cluster]` needs on this host (at start-up and with `--check-config`): with the slurm
    /// engine, a writable shared directory, Slurm's commands on PATH, and the model readable (every node
    /// reads it at the same path).
    public func checkCluster(configFile: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) throws {
        guard cluster.engine == .slurm else { return }
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: cluster.sharedDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigError(
                file: configFile, key: "cluster.shared_dir",
                reason: "\(cluster.sharedDirectory) is not a directory; create it on the shared filesystem every node mounts")
        }
        guard fm.isWritableFile(atPath: cluster.sharedDirectory) else {
            throw ConfigError(
                file: configFile, key: "cluster.shared_dir",
                reason: "\(cluster.sharedDirectory) is not writable by crmad's user; chown it to the service user")
        }
        for command in Self.slurmCommands where Self.executable(command, path: path) == nil {
            throw ConfigError(
                file: configFile, key: "cluster.engine",
                reason: "is \"slurm\", but \(command) is not on PATH (\(path ?? "unset")); install slurm-client on crmad's host")
        }
        guard fm.isReadableFile(atPath: model.path) else {
            throw ConfigError(
                file: configFile, key: "model.path",
                reason: "\(model.path) is not readable; with engine = \"slurm\" every node reads it at this path")
        }
    }

    /// The full path of `command` on `path` (a PATH-style list), nil when absent.
    static func executable(_ command: String, path: String?) -> String? {
        for dir in (path ?? "").split(separator: ":") {
            let candidate = "\(dir)/\(command)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
