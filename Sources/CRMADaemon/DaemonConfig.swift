import CRMAContinual
import CRMAMonitor

/// Everything `crmad` is configured with, one section per concern (config/crmad.toml documents each key).
/// Defaults are the production ones; `ConfigLoader` fills this from TOML and `validate()` checks ranges.
public struct DaemonConfig: Sendable, Equatable {
    public struct Paths: Sendable, Equatable {
        /// SQLite registry, blobs and job checkpoints.
        public var stateDirectory = "/var/lib/crmad"
        /// `inbox/<domain>/<files>`.
        public var inbox = "/var/lib/crmad/inbox"
        /// The control socket (HTTP/1.1 + JSON).
        public var socket = "/run/crmad/crmad.sock"
    }

    public struct Model: Sendable, Equatable {
        /// A GGUF file or a Hugging Face safetensors directory.
        public var path = "/usr/share/crmad/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        /// How the frozen base is held (``Precision/parse(_:)``): "auto" (quantized), "quantized" (the
        /// file's own blocks), "bf16" or "fp32". `model.precision` in older files.
        public var base = "auto"
    }

    public struct Adapter: Sendable, Equatable {
        public var loraRank = 8
        public var loraAlpha: Float = 16
        /// Projections LoRA adapts: q, k, v, o, gate, up, down.
        public var loraTargets = ["q", "k", "v", "o"]
        /// CRMA mixing: "sinkhorn" (the constrained mixer) or "identity" (ablation).
        public var crmaMixing = "sinkhorn"
    }

    public struct Training: Sendable, Equatable {
        public var strategy: Strategy = .crma
        /// Optimizer steps per update when `epochs` is 0 (a file setting `steps` and not `epochs` means that).
        public var steps = 100
        /// Passes over the domain's training rows (0: use `steps`). 2 is the forgetting benchmark's regime:
        /// 90% of a 4-epoch run's holdout-loss drop in half the time (docs/results/curve-medical-2026-11-30).
        public var epochs = 2.0
        public var sequenceLength = 256
        public var batchRows = 4
        public var loraLearningRate: Float = 5e-4
        public var structuralLearningRate: Float = 5e-3
        public var gateLearningRate: Float = 1e-3
        /// Steps between checkpoints of a running update (a crash resumes from the last one).
        public var checkpointInterval = 10
        public var seed: UInt64 = 0
        /// lwf: weight of the data's cross-entropy (1 − it weighs the distillation), softmax temperature,
        /// and whether the teacher runs live each step or is cached on disk in the job's directory.
        public var lwfAlpha: Float = 0.5
        public var lwfTemperature: Float = 2
        public var lwfTeacher = TeacherMode.live
        /// olora: strength of the orthogonality penalty between the new LoRA and the earlier ones.
        public var oloraLambda: Float = 0.5
        /// replay: fraction of every batch drawn from earlier domains' stored training rows.
        public var replayRatio = 0.25
        /// ewc: penalty strength λ, and the decay γ of older Fishers (1: summed, the offline form).
        public var ewcLambda: Float = 100
        public var ewcGamma: Float = 1
    }

    public enum BreachAction: String, Sendable, Equatable, CaseIterable {
        case rollback
        case retryFrozen = "retry-frozen"
    }

    public struct Monitor: Sendable, Equatable {
        /// Directory of the general benchmarks every update is judged on: general.jsonl (bits per byte and
        /// the KL probe set) and hellaswag/piqa/winogrande.jsonl (multiple choice); empty: none. A
        /// configured directory that does not exist is a configuration error.
        public var benchmarks = "/usr/share/crmad/benchmarks"
        /// What the gate judges on those benchmarks: texts, probes and items per task, and the limits of
        /// accuracy (points) and KL (nats) — the same settings type the benchmark's gated runs use.
        public var general = GeneralGateSettings()
        /// Drift (percent) of an earlier domain or of general bits per byte that warns, and that rolls back.
        public var warnPercent = GateThresholds().warn
        public var criticalPercent = GateThresholds().critical
        /// Steps between stability checks on earlier holdout slices during an update (0: off).
        public var checkInterval = 0
        public var onBreach: BreachAction = .rollback
        /// Holdout rows scored per domain.
        public var holdoutRows = 16
    }

    public struct Ingest: Sendable, Equatable {
        /// Files of one domain arriving within this many seconds form one update.
        public var debounceSeconds = 5.0
        public var maxFileBytes = 64 << 20
        public var maxDocuments = 100_000
        /// Fraction of documents held out for the forgetting monitor (split by document hash).
        public var holdoutFraction = 0.1
    }

    public struct Control: Sendable, Equatable {
        /// Permission bits of the socket file.
        public var socketMode = 0o660
        /// Uids allowed to make mutating calls (root and the daemon's own uid always are).
        public var allowedUIDs: [UInt32] = []
        /// Gids allowed to make mutating calls.
        public var allowedGIDs: [UInt32] = []
        /// A connection with no complete request for this long is closed (slow or stuck clients); a
        /// request being answered, such as the event stream, is not idle.
        public var idleTimeoutSeconds = 30.0
        /// Model requests (completions, generate, score, export) that may wait for the model; one more gets 429.
        public var maxQueuedRequests = 16
        /// A model request that waited this long for the model is answered with an error instead.
        public var requestDeadlineSeconds = 300.0
        /// The most tokens one completion may generate (a request's `max_tokens` above it is refused).
        public var maxCompletionTokens = 1024
        /// An optional TCP listener ("host:port") for the inference API, the reads of the daemon's state and
        /// the dashboard, behind a token (never anything that changes state); empty: none.
        public var listen = ""
        /// The file holding that token (readable by the service user only); required with `listen`.
        public var tokenFile = ""
        /// `model: "crma"` by the centroid rule: a request goes to the learned domain whose routing centroid is
        /// most similar to it if the cosine similarity reaches this; otherwise the base model answers. The rule
        /// serves versions learned before routing examples were kept, and every version when no general
        /// benchmarks are configured; otherwise a classifier routes (``DomainRouter``).
        public var routingMinimumSimilarity = 0.85
    }

    public struct Resources: Sendable, Equatable {
        /// OpenBLAS threads (0: OpenBLAS decides; set OPENBLAS_NUM_THREADS in the unit instead where possible).
        public var blasThreads = 0
    }

    /// Where updates run: on crmad's own host, or as Slurm batch jobs (docs/cluster.md).
    public struct Cluster: Sendable, Equatable {
        public enum Engine: String, Sendable, Equatable, CaseIterable {
            /// crmad's own job thread trains and evaluates, one update at a time.
            case local
            /// Each update is a Slurm batch job running `crmad worker` on a compute node.
            case slurm
        }

        public var engine: Engine = .local
        /// A directory crmad and every compute node see at the same path: the job directories live there.
        public var sharedDirectory = ""
        /// sbatch's `--partition` (empty: the cluster's default partition).
        public var partition = ""
        /// Updates of different domains in flight at once (never two of one domain).
        public var maxParallel = 1
        /// Extra sbatch arguments, such as `--cpus-per-task=2`, `--mem=8G`, `--time=02:00:00`.
        public var sbatchArguments: [String] = []
        /// Resubmissions of one job after TIMEOUT, NODE_FAIL or PREEMPTED (each resumes from its checkpoint).
        public var maxRequeues = 3

        /// sbatch arguments crmad sets itself: a job's output files, name and script are crmad's to choose.
        public static let reservedSbatchArguments = [
            "-o", "--output", "-e", "--error", "-J", "--job-name", "--parsable", "--wrap", "-D", "--chdir", "-p",
            "--partition", "--requeue", "--no-requeue", "--open-mode",
        ]
    }

    public var paths = Paths()
    public var model = Model()
    public var adapter = Adapter()
    public var training = Training()
    public var monitor = Monitor()
    public var ingest = Ingest()
    public var control = Control()
    public var resources = Resources()
    public var cluster = Cluster()

    public init() {}
}

/// `control.listen` parsed: a host (name, IPv4 or bracketed IPv6) and a port.
public struct TCPListen: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65_535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(" ") else { return nil }
        self.host = host
        self.port = port
    }
}
