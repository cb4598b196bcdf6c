// swift-tools-version: 6.1
import PackageDescription

// Layers, top to bottom (see README.md):
//   journalctl-swift -> JournalCLI -> Journal -> JournalStorage -> Uring -> CLiburing
//   PagedFile stands beside the journal (the RAM-backed data file).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-journal",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Journal", targets: ["Journal"]),
        .library(name: "PagedFile", targets: ["PagedFile"]),
        .library(name: "PageStore", targets: ["PageStore"]),
        .library(name: "KeyValueStore", targets: ["KeyValueStore"]),
        .executable(name: "journalctl-swift", targets: ["journalctl-swift"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // liburing 2.3 from Debian's liburing-dev; its static inline helpers import directly.
        .systemLibrary(
            name: "CLiburing",
            pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]
        ),
        // Tiny C helpers Swift cannot express: CRC32C with the SSE4.2 instruction,
        // statx(STATX_DIOALIGN), and a few constants that do not import.
        .target(name: "CJournalShims"),
        .target(
            name: "Uring",
            dependencies: [
                "CLiburing"
            ],
            swiftSettings: strict
        ),
        .target(
            name: "JournalStorage",
            dependencies: [
                "Uring", "CJournalShims"
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Journal",
            dependencies: [
                "JournalStorage", "CJournalShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics")
            ],
            swiftSettings: strict
        ),
        // The simulated disk and the power-cut explorer: used by tests and by
        // `journalctl-swift crash-sim`.
        .target(
            name: "JournalTesting",
            dependencies: ["Journal", "JournalStorage"],
            swiftSettings: strict
        ),
        .target(
            name: "PagedFile",
            dependencies: ["CJournalShims"],
            swiftSettings: strict
        ),
        // Transactions of page writes over the journal and the RAM data file.
        .target(
            name: "PageStore",
            dependencies: [
                "Journal", "JournalStorage", "PagedFile",
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict
        ),
        // A B+tree key-value store on the page store.
        .target(
            name: "KeyValueStore",
            dependencies: ["PageStore", "Journal", "JournalStorage", "CJournalShims"],
            swiftSettings: strict
        ),
        // The key-value store as a workload of the power-cut explorer: used by
        // tests and by `journalctl-swift crash-sim --workload kv`.
        .target(
            name: "StoreCrashTesting",
            dependencies: ["KeyValueStore", "PageStore", "Journal", "JournalStorage", "JournalTesting"],
            swiftSettings: strict
        ),
        // SQLite from the system (libsqlite3-dev), for `bench kv`.
        .systemLibrary(
            name: "CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "JournalCLI",
            dependencies: [
                "Journal", "JournalStorage", "JournalTesting", "PagedFile",
                "KeyValueStore", "CSQLite", "CJournalShims",
                "StoreCrashTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "journalctl-swift",
            dependencies: ["JournalCLI"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "JournalTests",
            dependencies: [
                "Journal", "JournalStorage", "JournalTesting", "Uring", "CJournalShims",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "JournalTestingTests",
            dependencies: ["JournalTesting", "Journal", "JournalStorage"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PagedFileTests",
            dependencies: ["PagedFile"],
            swiftSettings: strict
        ),
        // Kills `journalctl-swift append` at random moments and checks every
        // LSN it printed.
        .testTarget(
            name: "KillTests",
            dependencies: ["Journal"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PageStoreTests",
            dependencies: ["PageStore", "Journal", "JournalStorage", "JournalTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KeyValueStoreTests",
            dependencies: ["KeyValueStore", "PageStore", "Journal", "JournalStorage", "JournalTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "StoreCrashTestingTests",
            dependencies: ["StoreCrashTesting", "KeyValueStore", "JournalTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["JournalCLI", "Journal"],
            swiftSettings: strict
        ),
    ]
)
