@_spi(Testing) public import JournalTesting
@_spi(Testing) import KeyValueStore
public import PageStore
@_spi(Testing) public import Journal
import JournalStorage

// The key-value store as a workload of the power-cut explorer: transactions
// (batches of puts and deletes, queued `groupSize` at a time as one write
// group: one page-store transaction, or more if one fails) and
// checkpoints (snapshot written, journal truncated) on the simulated disk.
//
// The run. Creates the store (a cut may land in the creation), opens it in
// manual runtime and runs the batches of `KeyValueCrashWorkload` (seeded by
// the run's seed): queued `groupSize` at a time with
// `writeLazy(batches:)`, every `durableEvery`-th
// (and the last) waited for; a checkpoint after every `checkpointEvery`
// batches, and automatic ones whenever the journal threshold is crossed;
// then a final checkpoint and a close. Small journal segments make
// the workload roll over segments and the checkpoints release them.
//
// The model: whether `create` returned, the batches issued (handed to the
// store) and acknowledged (durable, always a prefix).
//
// The checks of a recovery (`check`):
// 1. the recovered contents equal the state after some prefix of the issued
//    batches that includes every acknowledged one (each batch whole or
//    absent, in order; see `KeyValueCrashWorkload.matchingPrefix`);
// 2. recovery does not refuse (the B+tree's structure is verified too: no
//    page leaked or reached twice), unless the store's creation never
//    finished (then "not a store" is right: nothing was promised);
// 3. the simulated disk saw no breach of the storage contract.
//
// Fault profiles (`CrashFaultProfile`, the journal workload's): write errors
// poison the store, which stops the run (what was acknowledged before must
// survive); garbage sectors only hit writes in flight, so the checks stay as
// above. Under the profiles that damage data at rest (a bit flipped in a
// written region after the cut, misdirected writes), a refusal as
// corruption is a detected fault, and contents equal to the state after a
// shorter prefix than acknowledged are a tolerated loss exactly when the
// journal could not tell it from a torn write: by the journal workload's
// rule (`lossIsIndistinguishable`), no acknowledged commit after the first
// lost one carries a committedLSN at or above its LSN, and the damage hit
// the journal (a flip outside its segments must be detected instead).
// Contents equal to no prefix at all are still a violation: damage
// returned as data.
// A recovery cut by the explorer and recovered again must give the same
// contents (the explorer's own check).

/// A crash workload over the key-value store (and so the page store and
/// its journal). See the comment at the top of this file.
public struct KeyValueStoreCrashWorkload: CrashWorkload {
    /// The batches each seed generates.
    public var batchShape: KeyValueBatchShape
    public var batchCount: Int { batchShape.batchCount }
    /// Every this many batches, one is waited for (acknowledged).
    public var durableEvery: Int
    /// A checkpoint after every this many batches (0: only the final one).
    public var checkpointEvery: Int
    public var retention: JournalRetention
    /// Batches are queued this many at a time as one write group
    /// (`KeyValueStore.writeLazy(batches:)`), so cuts land in grouped
    /// transactions too.
    public var groupSize: Int
    /// The faults of the run and the damage after the cut.
    public var profile: CrashFaultProfile
    /// Deliberate defects switched on in the store's journal, to show the
    /// explorer catches them.
    @_spi(Testing) public var defects: JournalDefects = []

    public init(
        batchCount: Int = 40, operationsPerBatchMax: Int = 5, keySpace: Int = 200, valueBytesMax: Int = 300,
        durableEvery: Int = 2, checkpointEvery: Int = 8, retention: JournalRetention = .previousSnapshot, groupSize: Int = 3,
        profile: CrashFaultProfile = .none
    ) {
        precondition(batchCount >= 1 && operationsPerBatchMax >= 1 && keySpace >= 1 && valueBytesMax >= 1)
        precondition(durableEvery >= 1 && checkpointEvery >= 0 && groupSize >= 1)
        self.groupSize = groupSize
        self.batchShape = KeyValueBatchShape(
            batchCount: batchCount, operationsPerBatchMax: operationsPerBatchMax, keySpace: keySpace, valueBytesMax: valueBytesMax)
        self.durableEvery = durableEvery
        self.checkpointEvery = checkpointEvery
        self.retention = retention
        self.profile = profile
    }

    public var name: String { profile == .none ? "kv" : "kv/\(profile.rawValue)" }
    /// The profile's faults (with `.none`, only the cuts: torn and lost writes).
    public var faults: SimulatedDisk.Faults { profile.faults }

    /// The batches of the run of `seed`.
    public func batches(seed: UInt64) -> KeyValueCrashWorkload {
        KeyValueCrashWorkload(seed: seed, shape: batchShape)
    }

    /// The store's configuration: 4 KiB pages, 64 KiB journal segments.
    public static var configuration: PageStoreConfiguration {
        var c = PageStoreConfiguration()
        c.pageCountMax = 1 << 8
        c.journal.segmentBytes = 64 << 10
        c.journal.recordBytesMax = 32 << 10
        c.journal.pageBytes = 16 << 10
        return c
    }

    /// The journal bytes past which the store checkpoints by itself (puts
    /// journal page deltas of a few hundred bytes, fewer since leaves are
    /// slotted: a small threshold, so that automatic checkpoints land
    /// between the explicit ones).
    public static let automaticCheckpointJournalBytes = 4 << 10

    func options(spareSegments: Int) -> PageStoreOptions {
        var o = PageStoreOptions()
        o.journal.runtime = .manual
        o.journal.testingDefects = defects
        o.journal.spareSegments = spareSegments
        // Small batch buffers: a debug build fills each one when it is
        // allocated, and the explorer opens the store thousands of times.
        o.journal.batchBytesMax = 16 << 10
        o.journalRetention = retention
        o.applyThresholdVersions = 16
        // Durable versions are read through the journal's mapping.
        o.tableImageBytesMax = 0
        // Automatic checkpoints (run inline by the committing thread in
        // manual runtime) land between the explicit ones: cuts hit them too.
        o.checkpointThresholdJournalBytes = Self.automaticCheckpointJournalBytes
        o.logger.logLevel = .critical
        o.journal.logger.logLevel = .critical
        return o
    }

    /// The contents a recovery found.
    public struct State: Equatable, Sendable, CustomStringConvertible {
        public var contents: [[UInt8]: [UInt8]]
        public init(contents: [[UInt8]: [UInt8]]) { self.contents = contents }
        public var description: String { "\(contents.count) keys" }
    }

    /// What the workload was told.
    public struct Model: Sendable {
        public var workload: KeyValueCrashWorkload
        /// `KeyValueStore.create` returned.
        public var created = false
        public var outcome = KeyValueCrashWorkload.Outcome()
        /// Checkpoints that returned.
        public var checkpoints = 0
        /// Checkpoints the store started by itself during the run.
        public var automaticCheckpoints = 0
        /// Breaches of the storage contract the disk saw.
        public var contractViolations: [String] = []
        /// The damage done after the cut (bit flips), for messages.
        public var damage: String?
        /// The flip landed outside the journal's segments (page file,
        /// snapshot, metadata), where no loss looks like a torn write.
        public var damageOutsideJournal = false
        /// Per issued batch (index for index with the batches): its commit's
        /// journal LSN (0 when its write failed, or when a failure before it
        /// in its group stopped the run).
        public var lsns: [LSN] = []
        /// Per issued batch: the durable LSN when it was handed to the store,
        /// a lower bound of the committedLSN its journal record carries (the
        /// record is encoded later, and the durable LSN only grows).
        public var committedAtLeast: [LSN] = []
        /// Per acknowledged batch: the writes misdirected before it was
        /// acknowledged.
        public var misdirectedAtAck: [Int] = []
        /// Writes misdirected over the whole run.
        public var misdirectedTotal = 0
    }

    // MARK: Running

    public func run(_ run: CrashRun) -> Model {
        var model = Model(workload: batches(seed: run.seed))
        runBatches(run, &model)
        // After the run (a `defer` would not reach the returned copy).
        model.contractViolations = run.disk.contractViolations
        return model
    }

    private func runBatches(_ run: CrashRun, _ model: inout Model) {
        let storage = run.disk.storage()
        let location = PageStoreLocation(sharing: storage)
        do {
            try KeyValueStore.create(location: location, configuration: Self.configuration)
        } catch {
            return
        }
        model.created = true
        let kv: KeyValueStore
        do { kv = try KeyValueStore.open(location: location, options: options(spareSegments: 1)) } catch { return }
        defer {
            model.automaticCheckpoints = kv.statistics.pageStore.automaticCheckpointCount
            kv.close()
        }
        let batches = model.workload.batches
        do throws(KeyValueError) {
            var i = 0
            while i < batches.count {
                let durable = kv.statistics.pageStore.durableLSN
                let results = kv.writeLazy(batches: Array(batches[i..<min(batches.count, i + groupSize)]))
                if let last = results.lastIndex(where: { if case .success = $0 { true } else { false } }) {
                    model.outcome.issued = i + last + 1
                }
                for result in results {
                    model.lsns.append((try? result.get()) ?? 0)
                    model.committedAtLeast.append(durable)
                }
                for result in results {
                    let lsn = try result.get()
                    if (i + 1) % durableEvery == 0 || i + 1 == batches.count {
                        try kv.waitUntilDurable(lsn)
                        model.acknowledge(through: i + 1, misdirected: run.disk.misdirectedWriteCount)
                    }
                    if checkpointEvery > 0 && (i + 1) % checkpointEvery == 0 && i + 1 < batches.count {
                        try kv.checkpoint()
                        model.checkpoints += 1
                    }
                    i += 1
                }
            }
            try kv.checkpoint()
            model.checkpoints += 1
        } catch {
            model.outcome.error = error
        }
    }

    // MARK: Recovering

    /// Opens the store as its next user would (with one more spare journal
    /// segment than the run kept, so the open prepares one: writes the
    /// explorer can cut), lets the journal prepare it, reads every pair,
    /// closes.
    public func recover(_ storage: SimulatedStorage) -> RecoveryAttempt<State> {
        let kv: KeyValueStore
        do {
            kv = try KeyValueStore.open(location: PageStoreLocation(sharing: storage), options: options(spareSegments: 2))
        } catch {
            return Self.refusal(error, storage: storage)
        }
        defer { kv.close() }
        do throws(KeyValueError) {
            for _ in 0..<3 {
                try kv.pump()
            }
            let contents = try kv.contents()
            // The tree is whole too: no page leaked or reached twice.
            _ = try kv.verifyStructure()
            if storage.disk.isPoweredOff { return .interrupted }
            return .recovered(State(contents: contents))
        } catch {
            return Self.refusal(error, storage: storage)
        }
    }

    static func refusal(_ error: KeyValueError, storage: SimulatedStorage) -> RecoveryAttempt<State> {
        if storage.disk.isPoweredOff { return .interrupted }
        let kind: String
        switch error {
        case .store(.notAStore): kind = "not-a-store"
        case .store(.journal(.notAJournal)): kind = "not-a-journal"
        case .store(.corruption), .store(.journal(.corruption)), .corruption: kind = "corruption"
        case .store(.journalDoesNotCoverSnapshot): kind = "journal-does-not-cover-snapshot"
        case .store(.io), .store(.journal(.io)): kind = "io"
        default: kind = "error"
        }
        return .refused(kind: kind, message: error.description)
    }

    // MARK: Checking

    public func findings(of model: Model) -> [CrashFinding] {
        model.contractViolations.map { CrashFinding(.violation, "storage contract: \($0)") }
    }

    /// Refusals that report damage at rest rather than miss it.
    static let detectionKinds: Set<String> = ["corruption", "not-a-store", "not-a-journal", "journal-does-not-cover-snapshot"]

    public func check(_ attempt: RecoveryAttempt<State>, model: Model) -> [CrashFinding] {
        let outcome = model.outcome
        let damage = model.damage.map { " (\($0))" } ?? ""
        switch attempt {
        case .interrupted:
            return []
        case .refused(let kind, let message):
            if !model.created && kind == "not-a-store" { return [] }
            let what = "recovery refused (\(kind)) after \(outcome.acknowledged) acknowledged of \(outcome.issued) issued batches: \(message)\(damage)"
            if profile.damagesDataAtRest && Self.detectionKinds.contains(kind) { return [CrashFinding(.detected, what)] }
            return [CrashFinding(.violation, what)]
        case .recovered(let state):
            if model.workload.matchingPrefix(state.contents, outcome: outcome) != nil { return [] }
            if let loss = checkLoss(state, model: model, damage: damage) { return [loss] }
            return [CrashFinding(
                .violation,
                "the recovered \(state.contents.count) keys are the state after no prefix of \(outcome.acknowledged)...\(outcome.issued) batches (\(model.checkpoints) checkpoints returned)\(damage)"
            )]
        }
    }
}
