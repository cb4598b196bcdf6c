// swift-tools-version: 6.1
import PackageDescription

// The hot-path microbenchmarks (ordo-one/benchmark), in a package of their
// own so that the main build and `make test` never fetch or build the
// benchmark harness. Run with `make bench-micro` from the repository root
// (see README.md beside this file).
let package = Package(
    name: "swift-journal-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-journal", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Journal", package: "swift-journal"),
                .product(name: "PagedFile", package: "swift-journal"),
            ],
            path: "Benchmarks/HotPaths",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
    ]
)
