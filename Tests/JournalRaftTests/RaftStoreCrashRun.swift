@_spi(Testing) import Journal
@testable import JournalRaft
import JournalTesting
import Testing

/// The logical state of a raft log store, as a model.
struct RaftStoreModel: Equatable {
    var term: UInt64 = 0
    var votedFor: UInt64 = 0
    var snapshot: RaftSnapshot?
    var log: [UInt64: RaftLogEntry] = [:]
    var nextIndex: UInt64 = 1

    /// Whether `loaded` is this state: same term, vote and snapshot, every
    /// entry above the snapshot present and equal, none beyond.
    func matches(_ loaded: RaftLoadedLog) -> String? {
        if loaded.term != term || loaded.votedFor != votedFor { return "term/vote \(loaded.term)/\(loaded.votedFor), model \(term)/\(votedFor)" }
        if loaded.snapshot != snapshot { return "snapshot \(String(describing: loaded.snapshot?.index)), model \(String(describing: snapshot?.index))" }
        let end = loaded.startIndex + UInt64(loaded.entries.count)
        if end != nextIndex { return "log ends before \(end), model before \(nextIndex)" }
        if loaded.startIndex > (snapshot?.index ?? 0) + 1 { return "log starts at \(loaded.startIndex)" }
        for (i, e) in loaded.entries.enumerated() where log[loaded.startIndex + UInt64(i)] != e {
            return "entry \(loaded.startIndex + UInt64(i)) differs"
        }
        return nil
    }
}

/// Random store operations on a simulated disk, a power cut at a random
/// step, and a check that the recovered state is the model's state after
/// some prefix of the operations that includes every durable one.
struct RaftStoreCrashRun {
    let seed: UInt64
    var random: SimulationRandom
    let disk: SimulatedDisk
    var model = RaftStoreModel()
    /// The model after each operation, with the LSN of its first record.
    var history: [(lsn: LSN, state: RaftStoreModel)] = []

    init(seed: UInt64) {
        self.seed = seed
        random = SimulationRandom(seed: seed, stream: 1)
        disk = SimulatedDisk(seed: seed)
    }

    mutating func execute() throws {
        let storage = disk.storage()
        let journal = try openRaftJournal(on: storage, create: true)
        let store = try RaftLogStore(journal: journal, snapshotStorage: storage)
        history.append((0, model))
        let steps = random.int(in: 20...160)
        var durableAtCut: LSN = 0
        for _ in 0..<steps {
            do {
                try step(store)
            } catch {
                break
            }
        }
        durableAtCut = journal.durableLSN
        _ = disk.powerCut()
        let rebooted = disk.reboot()
        let recovered = try RaftLogStore(journal: openRaftJournal(on: rebooted, create: false), snapshotStorage: rebooted)
        let loaded = try recovered.load()
        let candidates = history.filter { $0.lsn <= recovered.journal.durableLSN }
        let matching = candidates.lastIndex { $0.state.matches(loaded) == nil }
        let lastDurable = history.lastIndex { $0.lsn <= durableAtCut } ?? 0
        #expect(matching != nil, "seed \(seed): recovered state matches no prefix: \(candidates.last?.state.matches(loaded) ?? "")")
        if let matching { #expect(matching >= lastDurable, "seed \(seed): a durable operation was lost") }
    }

    /// One random operation (or pump), recorded in the history.
    mutating func step(_ store: RaftLogStore) throws {
        let first = store.journal.nextLSN
        let roll = random.below(100)
        if roll < 30 {
            try store.journal.pump()
            return
        } else if roll < 40 {
            model.term += 1
            model.votedFor = 0
            try store.setTerm(model.term)
        } else if roll < 45 {
            model.votedFor = UInt64(random.int(in: 1...3))
            try store.setVote(model.votedFor)
        } else if roll < 80 {
            // Configuration entries (type 3) among commands: they must survive
            // crashes and truncation markers like any entry.
            let type: UInt16 = random.chance(0.2) ? RaftEntryType.change : RaftEntryType.command
            let entry = RaftLogEntry(term: model.term, type: type, payload: (0..<random.int(in: 0...900)).map { _ in UInt8(random.below(256)) })
            model.log[model.nextIndex] = entry
            model.nextIndex += 1
            _ = try store.append([entry])
        } else if roll < 90 {
            let low = (model.snapshot?.index ?? 0) + 1
            guard model.nextIndex > low else { return }
            let from = UInt64(random.int(in: Int(low)...Int(model.nextIndex - 1)))
            for i in from..<model.nextIndex { model.log[i] = nil }
            model.nextIndex = from
            try store.truncate(from: from)
        } else {
            try snapshot(store)
        }
        history.append((first, model))
    }

    mutating func snapshot(_ store: RaftLogStore) throws {
        let installed = random.chance(0.3)
        let index: UInt64
        if installed {
            index = model.nextIndex + UInt64(random.int(in: 0...5))
        } else {
            let low = max(model.snapshot?.index ?? 0, 1)
            guard model.nextIndex > low else { return }
            index = UInt64(random.int(in: Int(low)...Int(model.nextIndex - 1)))
        }
        let image = RaftSnapshot(
            index: index, term: model.term, configuration: [RaftServer(id: 1, address: "n1", role: 1)],
            configurationIndex: 1, data: [UInt8(truncatingIfNeeded: index)])
        let trailing: UInt64 = installed ? 0 : UInt64(random.int(in: 1...8))
        model.snapshot = image
        if installed {
            model.log = [:]
            model.nextIndex = index + 1
        }
        let lsn = try store.putSnapshot(image, trailing: trailing)
        while store.journal.durableLSN < lsn { try store.journal.pump() }
        try store.compact()
    }
}
