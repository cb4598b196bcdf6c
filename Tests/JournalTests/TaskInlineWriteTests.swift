@testable import Journal
import JournalFileStorage
import JournalPrimitives
import Synchronization
import TestSupport
import Testing

/// Inline writes for async appends while the device is fast
/// (`JournalOptions.inlineWritesFromTasksMicrosecondsMax`): the gate, and
/// the policy that reads it. The gate is set by hand where the verdict
/// depends on it, so no verdict rests on how fast the machine's writes
/// happen to be.
@Suite struct TaskInlineWriteTests {
    @Test func aSlowInlineWriteClosesTheGateForADoublingCooldown() {
        var gate = TaskInlineGate()
        #expect(gate.isOpen)
        gate.noteWrite(nanos: 10_000, inline: true, fastNanosMax: 50_000)
        #expect(gate.isOpen)
        // Slow probes in a row: cooldowns of 1, 2, 4 queue writes.
        for cooldown in [1, 2, 4] {
            gate.noteWrite(nanos: 5_000_000, inline: true, fastNanosMax: 50_000)
            for _ in 0..<cooldown {
                #expect(!gate.isOpen)
                gate.noteWrite(nanos: 5_000_000, inline: false, fastNanosMax: 50_000)
            }
            #expect(gate.isOpen)
        }
        // A fast probe resets the cooldown.
        gate.noteWrite(nanos: 3_000, inline: true, fastNanosMax: 50_000)
        gate.noteWrite(nanos: 5_000_000, inline: true, fastNanosMax: 50_000)
        #expect(gate.writesUntilProbe == 1)
    }

    @Test func theCooldownStopsGrowingAtItsMaximum() {
        var gate = TaskInlineGate()
        for _ in 0..<20 { gate.noteWrite(nanos: 5_000_000, inline: true, fastNanosMax: 50_000) }
        #expect(gate.writesUntilProbe == TaskInlineGate.cooldownWritesMax)
        #expect(gate.nextCooldownWrites == TaskInlineGate.cooldownWritesMax)
    }

    /// A lone task appends through the I/O thread while the gate is closed
    /// and inline once it is open; durable on return either way.
    @Test func aTaskWritesInlineOnlyWhileTheGateIsOpen() async throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let options = InlineWriteTests.options("gate")
        let journal = try Journal.open(path: dir.path, options: options)
        defer { journal.close() }
        // Closed for 2 queue writes (the second slow probe in a row).
        journal.lock.withLock {
            journal.taskInlineGate.noteWrite(nanos: .max, inline: true, fastNanosMax: 0)
            journal.taskInlineGate.noteWrite(nanos: .max, inline: true, fastNanosMax: 0)
        }
        for i in 0..<2 {
            let lsn = try await journal.append(payload(i, bytes: 100))
            #expect(journal.durableLSN >= lsn)
        }
        #expect(InlineWriteTests.inlineWrites(options) == 0)
        // Open now: the next append goes inline, and is durable on return.
        #expect(journal.lock.withLock { journal.taskInlineGate.isOpen })
        let lsn = try await journal.append(payload(2, bytes: 100))
        #expect(journal.durableLSN >= lsn)
        #expect(InlineWriteTests.inlineWrites(options) == 1)
    }

    /// With more tasks inside `append` than `taskInlineAppendersMax`
    /// (counted by hand here, as tasks waiting for their records would
    /// be), a task that finds the journal idle leaves its batch to the I/O
    /// thread; with as many as the bound, it writes inline. Durable on
    /// return either way.
    @Test func aTaskWritesInlineOnlyWhileFewTasksAppend() async throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let options = InlineWriteTests.options("few")
        let journal = try Journal.open(path: dir.path, options: options)
        defer { journal.close() }
        #expect(journal.lock.withLock { journal.taskInlineGate.isOpen })
        let others = Journal.taskInlineAppendersMax
        journal.taskAppenders.add(others, ordering: .relaxed)
        for i in 0..<3 {
            let lsn = try await journal.append(payload(i, bytes: 100))
            #expect(journal.durableLSN >= lsn)
        }
        #expect(InlineWriteTests.inlineWrites(options) == 0)
        // The caller and others - 1: as many as the bound.
        journal.taskAppenders.subtract(1, ordering: .relaxed)
        let lsn = try await journal.append(payload(3, bytes: 100))
        #expect(journal.durableLSN >= lsn)
        #expect(InlineWriteTests.inlineWrites(options) == 1)
        journal.taskAppenders.subtract(others - 1, ordering: .relaxed)
        #expect(journal.taskAppenders.load(ordering: .relaxed) == 0, "every append left the count as it found it")
    }

    @Test func zeroTurnsTheFastPathOff() async throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        var options = InlineWriteTests.options("never")
        options.inlineWritesFromTasksMicrosecondsMax = 0
        let journal = try Journal.open(path: dir.path, options: options)
        defer { journal.close() }
        for i in 0..<5 { _ = try await journal.append(payload(i, bytes: 100)) }
        #expect(journal.durableLSN == 5)
        #expect(InlineWriteTests.inlineWrites(options) == 0)
    }
}
