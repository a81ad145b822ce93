// swift-tools-version: 6.2
// Micro benchmarks of the hot kernels with ordo-one/package-benchmark: `make bench-micro` (see README, Benchmarks).
// A separate package so that the main package, its tests and CI never build package-benchmark; it reaches the
// kernels through the main package's `CVMKernels` product (benchmark-only entry points are `@_spi(Benchmarks)`).
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the repository was cloned.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

let package = Package(
    name: "cvm-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: root.path),
        // ordo-one/package-benchmark, renamed ordo-one/benchmark (the old identifier warns). Only the malloc interposer: the default RuntimeInterposer trait pulls in swift-runtime-interposer (Linux, Swift 6.3).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: ["ExtractBenchmarks", "FeaturesBenchmarks", "KMeansBenchmarks", "LoadBenchmarks"].map { name in
        .executableTarget(
            name: name,
            dependencies: [
                .product(name: "CVMKernels", package: rootIdentity),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/\(name)",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    }
)
