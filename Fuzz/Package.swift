// swift-tools-version: 6.2
// The libFuzzer binary `cvm-fuzz TARGET …`: runs one of the targets in Sources/FuzzTargets of the main package.
// Built and run by `make fuzz` (AddressSanitizer, libFuzzer coverage, libFuzzer linked without its main); not part of `make test`.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the repository was cloned.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

let package = Package(
    name: "cvm-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(name: "cvm-fuzz", dependencies: [.product(name: "FuzzTargets", package: rootIdentity)])
    ]
)
