// swift-tools-version: 6.1
import PackageDescription

/// Numeric kernels run 60–550× slower unoptimised, so they are built with -O even in debug builds
/// (engineering-notes.md). No -wmo here: it breaks incremental debug builds.
let optimizedInDebug: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
    // SIMD16<Float> lowers to AVX2 with fused multiply-add instead of SSE2 and libm fma calls.
    .unsafeFlags(["-target-cpu", "haswell"]),
]

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "crma",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "crma-bench", targets: ["crma-bench"]),
        .executable(name: "crmad", targets: ["crmad"]),
        .executable(name: "crmactl", targets: ["crmactl"]),
        .executable(name: "crma-fuzz", targets: ["crma-fuzz"]),
        .library(name: "CRMAModel", targets: ["CRMAModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C shims
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // bf16 GEMMs through oneDNN (Debian libdnnl-dev), with a cpuid check
        .target(
            name: "CBF16",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]
        ),

        // dequantization of GGUF blocks to fp32 (loading, and the quantized frozen base's weight panels);
        // -ffp-contract=off keeps the AVX2 paths' values bit-identical to the plain C code's
        .target(
            name: "CQuant",
            cSettings: [.unsafeFlags(["-O3", "-march=haswell", "-ffp-contract=off"])]
        ),

        // numerics: Float32 buffers, GEMM wrappers, SIMD kernels, threading
        .target(
            name: "CRMANumerics",
            dependencies: [
                "COpenBLAS",
                "CBF16",
                .product(name: "RealModule", package: "swift-numerics"),
            ],
            swiftSettings: upcoming + optimizedInDebug
        ),
        // model: GGUF/safetensors readers, dequantization, tokenizers, Llama forward, scoring
        .target(
            name: "CRMAModel",
            dependencies: ["CRMANumerics", "CQuant"],
            swiftSettings: upcoming + optimizedInDebug
        ),
        // adapters: LoRA, CRMA (Sinkhorn), adapter sets
        .target(
            name: "CRMAAdapters",
            dependencies: ["CRMAModel", "CRMANumerics"],
            swiftSettings: upcoming + optimizedInDebug
        ),
        // training: optimizer, schedules, clipping, data pipeline, trainer loop, checkpoints
        .target(
            name: "CRMATraining",
            dependencies: ["CRMAAdapters", "CRMAModel", "CRMANumerics"],
            swiftSettings: upcoming + optimizedInDebug
        ),
        // monitor: loss matrix, forgetting metrics, bootstrap intervals, the gate (pure decisions)
        .target(
            name: "CRMAMonitor",
            dependencies: ["CRMAModel", "CRMANumerics", "CRMAWire"],
            swiftSettings: upcoming
        ),
        // continual: the strategies and the update pipeline (train → score → matrix)
        .target(
            name: "CRMAContinual",
            dependencies: ["CRMATraining", "CRMAAdapters", "CRMAModel", "CRMAMonitor", "CRMANumerics", "CRMAWire"],
            swiftSettings: upcoming
        ),
        // the forgetting benchmark's runs, results files and report (only crma-bench and tests link it)
        .target(
            name: "CRMABenchmark",
            dependencies: ["CRMAContinual", "CRMATraining", "CRMAAdapters", "CRMAModel", "CRMAMonitor", "CRMAWire"],
            swiftSettings: upcoming
        ),
        // wire: the Codable types the control API sends and crmactl reads (no dependencies, so crmactl stays light)
        .target(name: "CRMAWire", swiftSettings: upcoming),
        // daemon core: config, inbox and ingest, blob store, registry and jobs (SQLite), journald, sd_notify
        .target(
            name: "CRMADaemon",
            dependencies: [
                "CRMAContinual", "CRMATraining", "CRMAAdapters", "CRMAModel", "CRMAMonitor", "CRMAWire", "CSystemd",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: upcoming
        ),
        // control API: HTTP/1.1 + JSON over the Unix socket (Hummingbird), peer credentials
        .target(
            name: "CRMAControl",
            dependencies: [
                "CRMADaemon", "CRMAContinual", "CRMAModel", "CRMAWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The dashboard page, compiled into the binary (PackageResources.dashboard_html): crmad is one file.
            resources: [.embedInCode("Dashboard/dashboard.html")],
            swiftSettings: upcoming
        ),
        // executables
        .executableTarget(
            name: "crmad",
            dependencies: [
                "CRMADaemon", "CRMAControl", "CRMAContinual", "CRMAModel", "CRMANumerics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "CRMAFuzzTargets",
            dependencies: ["CRMADaemon", "CRMAModel", "CRMATraining"],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "crma-fuzz",
            dependencies: [
                "CRMAFuzzTargets", "CRMAModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "crmactl",
            dependencies: [
                "CRMAWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "crma-bench",
            dependencies: [
                "CRMAModel", "CRMANumerics", "CRMAAdapters", "CRMATraining", "CRMAContinual", "CRMABenchmark", "CRMAWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming
        ),
        // tests
        .target(
            name: "CRMATestSupport",
            dependencies: ["CRMAModel", "CRMANumerics"],
            path: "Tests/CRMATestSupport",
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMANumericsTests",
            dependencies: ["CRMANumerics", "CSystemd"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMAAdaptersTests",
            dependencies: ["CRMAAdapters", "CRMAModel", "CRMANumerics", "CRMATestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMATrainingTests",
            dependencies: ["CRMATraining", "CRMAAdapters", "CRMAModel", "CRMANumerics", "CRMATestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMAMonitorTests",
            dependencies: ["CRMAMonitor", "CRMAModel", "CRMAAdapters", "CRMANumerics", "CRMATestSupport", "CRMAWire"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMAContinualTests",
            dependencies: [
                "CRMAContinual", "CRMABenchmark", "CRMATraining", "CRMAAdapters", "CRMAModel", "CRMAMonitor", "CRMANumerics",
                "CRMATestSupport", "CRMAWire",
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMADaemonTests",
            dependencies: [
                "CRMADaemon", "CRMAContinual", "CRMABenchmark", "CRMATraining", "CRMAAdapters", "CRMAModel", "CRMAMonitor",
                "CRMAWire", "CRMATestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMAControlTests",
            dependencies: [
                "CRMAControl", "CRMADaemon", "CRMAContinual", "CRMAModel", "CRMAWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMAWireTests",
            dependencies: ["CRMAWire"],
            resources: [.copy("Recorded")],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMAModelTests",
            dependencies: ["CRMAModel", "CRMANumerics", "CQuant"],
            resources: [.copy("Fixtures")],
            swiftSettings: upcoming
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer harness links libFuzzer's own main, so it exists only in `make libfuzz`'s build
// (CRMA_LIBFUZZER=1 with -sanitize=fuzzer, in its own scratch path).
#if canImport(Glibc)
    import Glibc
    if getenv("CRMA_LIBFUZZER") != nil {
        package.targets.append(
            .executableTarget(name: "crma-libfuzz", dependencies: ["CRMAFuzzTargets"], swiftSettings: upcoming))
        package.products.append(.executable(name: "crma-libfuzz", targets: ["crma-libfuzz"]))
    }
#endif
