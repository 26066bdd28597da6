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
        .library(name: "CRMAModel", targets: ["CRMAModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    ],
    targets: [
        // C shims
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),

        // numerics: Float32 buffers, GEMM wrappers, SIMD kernels, threading
        .target(
            name: "CRMANumerics",
            dependencies: [
                "COpenBLAS",
                .product(name: "RealModule", package: "swift-numerics"),
            ],
            swiftSettings: upcoming + optimizedInDebug
        ),
        // model: GGUF/safetensors readers, dequantization, tokenizers, Llama forward, scoring
        .target(
            name: "CRMAModel",
            dependencies: ["CRMANumerics"],
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
            dependencies: ["CRMAAdapters", "CRMAModel", "CRMANumerics", "CRMATestSupport"],
            swiftSettings: upcoming + optimizedInDebug
        ),
        // monitor: loss matrix, forgetting metrics, bootstrap intervals, the gate (pure decisions)
        .target(
            name: "CRMAMonitor",
            dependencies: ["CRMAModel", "CRMANumerics"],
            swiftSettings: upcoming
        ),
        // continual: the strategies and the update pipeline (train → score → matrix)
        .target(
            name: "CRMAContinual",
            dependencies: ["CRMATraining", "CRMAAdapters", "CRMAModel", "CRMAMonitor", "CRMANumerics"],
            swiftSettings: upcoming
        ),
        // executables
        .executableTarget(
            name: "crma-bench",
            dependencies: [
                "CRMAModel", "CRMANumerics", "CRMAAdapters", "CRMATraining", "CRMAContinual", "CRMAMonitor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming
        ),
        // tests
        .target(
            name: "CRMATestSupport",
            dependencies: ["CRMAModel"],
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
            dependencies: ["CRMAMonitor", "CRMAModel", "CRMAAdapters", "CRMANumerics", "CRMATestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMAContinualTests",
            dependencies: [
                "CRMAContinual", "CRMATraining", "CRMAAdapters", "CRMAModel", "CRMAMonitor", "CRMANumerics",
                "CRMATestSupport",
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "CRMAModelTests",
            dependencies: ["CRMAModel", "CRMANumerics"],
            resources: [.copy("Fixtures")],
            swiftSettings: upcoming
        ),
    ],
    swiftLanguageModes: [.v6]
)
