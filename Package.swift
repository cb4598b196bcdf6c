// swift-tools-version: 6.1
import PackageDescription

// The module graph, top to bottom (README.md, "Layout"; Docs/architecture.md):
//
//   journalctl-swift -> JournalCLI -> JournalBench      (`bench`; alone links CSQLite, CRocksDB and CValgrind)
//                                  -> StoreCrashTesting (`crash-sim --workload kv`)
//                                  -> JournalTesting    (`crash-sim`)
//                                  -> JournalCLISupport (exit codes, JSON; also under JournalBench)
//   (the CLI modules use the libraries below, as the testing modules do)
//   KeyValueStore -> PageStore -> Journal -> JournalStorage (the seam: protocols and errors)
//                    PageStore -> PagedFile (the RAM-backed data file)
//   JournalFileStorage: the real storage behind the seam (files with
//   O_DIRECT|O_DSYNC, writes through io_uring: Uring -> CLiburing, or a
//   thread pool where io_uring is denied), the only module that imports Uring.
//   JournalRaft -> Journal, CRaft (canonical raft's log store and I/O on the
//   journal; CRaft is Debian's libraft-dev).
//   JournalPrimitives under all of them: errno, CRC32C, the little-endian
//   codec, alignment, the clock, threads, locks, the parker, SplitMix64; on
//   the C shims CJournalShims (CRC32C, file calls) and CJournalConcurrency
//   (futex, membarrier, thread-local slot).
//
// Testing modules, never in a library product: JournalTesting (the simulated
// disk and the crash explorer, on Journal), StoreCrashTesting (the key-value
// workloads, on KeyValueStore and JournalTesting), and TestSupport
// (Tests/TestSupport: helpers the test targets share).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-journal",
    products: [
        .library(name: "Journal", targets: ["Journal", "JournalFileStorage", "JournalPrimitives"]),
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
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.0.0"),
    ],
    targets: [
        // liburing 2.3 from Debian's liburing-dev; its static inline helpers import directly.
        .systemLibrary(
            name: "CLiburing",
            pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]
        ),
        // C helpers Swift cannot express, one target per job. CRC32C with the
        // SSE4.2 instruction, statx(STATX_DIOALIGN), open flags and eventfd:
        .target(name: "CJournalShims"),
        // The futex parking spot, membarrier, the thread-local writer slot,
        // thread names, compiler barriers:
        .target(name: "CJournalConcurrency"),
        // Valgrind's client requests, for the CPU benchmark only:
        .target(name: "CValgrind"),
        // The support module every layer shares (one concept per file).
        .target(
            name: "JournalPrimitives",
            dependencies: ["CJournalShims", "CJournalConcurrency"],
            swiftSettings: strict
        ),
        .target(
            name: "Uring",
            dependencies: [
                "CLiburing", "JournalPrimitives"
            ],
            swiftSettings: strict
        ),
        // The storage seam: protocols and errors, no implementation.
        .target(
            name: "JournalStorage",
            dependencies: [
                "JournalPrimitives"
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Journal",
            dependencies: [
                "JournalStorage", "JournalPrimitives",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics")
            ],
            swiftSettings: strict
        ),
        // The real storage (files with O_DIRECT|O_DSYNC, writes through
        // io_uring or, where it is denied, a pool of threads) and the journal
        // at a directory path over it.
        .target(
            name: "JournalFileStorage",
            dependencies: [
                "JournalStorage", "JournalPrimitives", "Uring", "CJournalShims", "Journal",
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict
        ),
        // The simulated disk and the power-cut explorer: used by tests and by
        // `journalctl-swift crash-sim`.
        .target(
            name: "JournalTesting",
            dependencies: ["Journal", "JournalStorage", "JournalPrimitives"],
            swiftSettings: strict
        ),
        .target(
            name: "PagedFile",
            dependencies: ["CJournalConcurrency", "JournalPrimitives"],
            swiftSettings: strict
        ),
        // Transactions of page writes over the journal and the RAM data file.
        .target(
            name: "PageStore",
            dependencies: [
                "Journal", "JournalStorage", "JournalFileStorage", "PagedFile", "JournalPrimitives",
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict
        ),
        // A B+tree key-value store on the page store.
        .target(
            name: "KeyValueStore",
            dependencies: ["PageStore", "Journal", "JournalStorage", "JournalPrimitives"],
            swiftSettings: strict
        ),
        // The key-value store as a workload of the power-cut explorer: used by
        // tests and by `journalctl-swift crash-sim --workload kv`.
        .target(
            name: "StoreCrashTesting",
            dependencies: ["KeyValueStore", "PageStore", "Journal", "JournalStorage", "JournalTesting"],
            swiftSettings: strict
        ),
        // Canonical raft 0.15 from Debian's libraft-dev (with libuv1-dev, which
        // its pkg-config file and its uv transport bring along).
        .systemLibrary(
            name: "CRaft",
            pkgConfig: "raft",
            providers: [.apt(["libraft-dev", "libuv1-dev"])]
        ),
        // Canonical raft's log store, snapshots and I/O on the journal: a
        // `raft_io` whose entries are journal records (raft-log-format.md).
        .target(
            name: "JournalRaft",
            dependencies: ["CRaft", "Journal", "JournalStorage", "JournalPrimitives"],
            swiftSettings: strict
        ),
        // The replicated key-value service: a raft node on a real loop (timers,
        // TCP between nodes), the key-value store as its state machine, and
        // the HTTP/JSON API that `journalctl-swift kv serve` runs.
        .target(
            name: "ReplicatedKV",
            dependencies: [
                "JournalRaft", "CRaft", "KeyValueStore", "PageStore", "Journal", "JournalStorage",
                "JournalFileStorage", "JournalPrimitives",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict
        ),
        // SQLite from the system (libsqlite3-dev), for `bench kv`.
        .systemLibrary(
            name: "CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // RocksDB's C API from the system (librocksdb-dev), for `bench kv` only.
        .systemLibrary(
            name: "CRocksDB",
            pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"])]
        ),
        // What the CLI's commands and its benches share: the exit codes and
        // the error type, JSON text.
        .target(
            name: "JournalCLISupport",
            dependencies: [
                "Journal", "JournalStorage", "JournalPrimitives",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // `journalctl-swift bench`: the journal, the paged file and the
        // key-value store measured beside their peers (fio, SQLite, RocksDB).
        .target(
            name: "JournalBench",
            dependencies: [
                "Journal", "JournalStorage", "JournalFileStorage", "JournalPrimitives", "PagedFile",
                "PageStore", "KeyValueStore", "CSQLite", "CRocksDB", "CValgrind", "JournalCLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict
        ),
        .target(
            name: "JournalCLI",
            dependencies: [
                "Journal", "JournalStorage", "JournalFileStorage", "JournalPrimitives", "JournalTesting",
                "PageStore", "KeyValueStore", "StoreCrashTesting", "JournalCLISupport", "JournalBench", "ReplicatedKV",
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
        // Runs a program with the io_uring system calls failing with EPERM,
        // as container seccomp profiles make them fail: for the tests of the
        // thread backend on such hosts (a few lines of C, no library).
        .executableTarget(name: "seccomp-deny-io-uring"),
        // What the test targets share: temporary directories, threads, the
        // built executable, silenced journal logs. Linked by tests only.
        .target(
            name: "TestSupport",
            dependencies: [
                "JournalStorage", "JournalFileStorage", "JournalPrimitives", "JournalTesting",
                .product(name: "Logging", package: "swift-log")
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "JournalTests",
            dependencies: [
                "Journal", "JournalStorage", "JournalFileStorage", "JournalTesting", "JournalPrimitives", "TestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "JournalTestingTests",
            dependencies: ["JournalTesting", "Journal", "JournalStorage", "JournalPrimitives", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PagedFileTests",
            dependencies: ["PagedFile", "JournalPrimitives", "TestSupport"],
            swiftSettings: strict
        ),
        // Kills `journalctl-swift append` at random moments and checks every
        // LSN it printed.
        .testTarget(
            name: "KillTests",
            dependencies: ["Journal", "JournalFileStorage", "JournalPrimitives", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PageStoreTests",
            dependencies: ["PageStore", "Journal", "JournalStorage", "JournalFileStorage", "JournalTesting", "JournalPrimitives", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KeyValueStoreTests",
            dependencies: ["KeyValueStore", "PageStore", "Journal", "JournalStorage", "JournalFileStorage", "JournalTesting", "JournalPrimitives", "StoreCrashTesting", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "StoreCrashTestingTests",
            dependencies: ["StoreCrashTesting", "KeyValueStore", "JournalTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["JournalCLI", "JournalCLISupport", "Journal", "JournalStorage", "JournalFileStorage", "JournalPrimitives", "JournalTesting", "TestSupport"],
            swiftSettings: strict
        ),
        // The raft log store on the simulated disk, and three raft nodes in one
        // process over a simulated network, clock and disks.
        .testTarget(
            name: "JournalRaftTests",
            dependencies: ["JournalRaft", "CRaft", "Journal", "JournalStorage", "JournalFileStorage", "JournalTesting", "JournalPrimitives", "TestSupport"],
            swiftSettings: strict
        ),
        // The replicated key-value service: its encodings, and `kv serve`
        // processes on loopback killed and restarted under a writer.
        .testTarget(
            name: "ReplicatedKVTests",
            dependencies: ["ReplicatedKV", "JournalRaft", "KeyValueStore", "PageStore", "CRaft", "JournalPrimitives", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "JournalBenchTests",
            dependencies: ["JournalBench"],
            swiftSettings: strict
        ),
    ]
)
