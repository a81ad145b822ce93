// swift-tools-version: 6.2
import PackageDescription

// One library per pipeline stage; stages depend on CVMCore only, never on each other.
// Pipeline wires them together; `cvm` is a thin CLI over Pipeline (see DESIGN.md).
let package = Package(
    name: "cvm",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cvm", targets: ["cvm"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
        // The fuzz entry points, for the libFuzzer binaries in Fuzz/ (a separate package built with -sanitize=fuzzer).
        .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
        // The hot kernels, for the micro benchmarks in Benchmarks/ (a separate package running ordo-one/package-benchmark);
        // benchmark-only entry points are `@_spi(Benchmarks)`.
        .library(name: "CVMKernels", targets: ["CVMCore", "Extract", "Features", "Cluster", "Warehouse", "Generate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CVMCore", dependencies: ["CKernels"]),
        // Hand-written C for the k-means distance kernels (one build per instruction set, see the header),
        // extract's per-file string interner and the prefetch hint of the big hash-table probes.
        .target(name: "CKernels"),
        .target(name: "Extract", dependencies: ["CVMCore", "CKernels", "CZlib"]),
        .target(name: "Clean", dependencies: ["CVMCore", "CKernels"]),
        .target(name: "Features", dependencies: ["CVMCore"]),
        .target(name: "Cluster", dependencies: ["CVMCore", "CKernels"]),
        .target(name: "Value", dependencies: ["CVMCore"]),
        .target(
            name: "Warehouse",
            dependencies: [
                "CVMCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(name: "Report", dependencies: ["CVMCore", .product(name: "Mustache", package: "swift-mustache")]),
        .target(name: "Generate", dependencies: ["CVMCore", "CZlib"]),
        .target(
            name: "Pipeline",
            dependencies: [
                "CVMCore", "CKernels", "Extract", "Clean", "Features", "Cluster", "Value", "Warehouse", "Report", "Generate",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "cvm",
            dependencies: ["Pipeline", "CVMCore", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // What each fuzz target does with one input; also replayed over the corpus by FuzzRegressionTests.
        .target(name: "FuzzTargets", dependencies: ["Pipeline", "Extract", "CVMCore"]),
        .target(name: "TestSupport", dependencies: ["CVMCore"], path: "Tests/TestSupport"),
        .testTarget(name: "CVMCoreTests", dependencies: ["CVMCore", "TestSupport"]),
        .testTarget(name: "ExtractTests", dependencies: ["Extract", "CVMCore", "CKernels", "TestSupport", "CZlib"]),
        .testTarget(name: "CleanTests", dependencies: ["Clean", "CVMCore", "TestSupport"]),
        .testTarget(name: "FeaturesTests", dependencies: ["Features", "CVMCore", "TestSupport"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "CVMCore", "TestSupport"]),
        .testTarget(name: "ValueTests", dependencies: ["Value", "CVMCore", "TestSupport"]),
        .testTarget(name: "WarehouseTests", dependencies: ["Warehouse", "CVMCore", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "CVMCore", "TestSupport"]),
        .testTarget(name: "GenerateTests", dependencies: ["Generate", "Extract", "CVMCore", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "CVMCore", "Features", "TestSupport", "FuzzTargets"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["Pipeline", "Cluster", "CVMCore", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ]
)

for target in package.targets where target.type != .system && target.name != "CKernels" {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
