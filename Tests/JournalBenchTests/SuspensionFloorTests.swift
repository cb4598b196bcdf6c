import JournalPrimitives
import Testing
@testable import JournalBench

/// The floor bench's hub resumes every suspension exactly once and lets
/// every task end, whatever the schedule: a lost waiter would hang the
/// round, a double resume would crash, a waiter left behind at the end
/// would make the counts disagree.
@Suite struct SuspensionFloorTests {
    @Test(arguments: [1, 4, 64])
    func everySuspensionIsResumedOnce(tasks: Int) async throws {
        let round = try await Self.onOwnThread { () throws(BenchError) in try runSuspensionFloor(tasks: tasks, seconds: 0.05) }
        #expect(round.suspensions >= tasks)
        #expect(round.resumed == round.suspensions)
        #expect(round.wakeUps >= 1 && round.wakeUps <= round.resumed)
        #expect(round.perWakeUp >= 1)
    }

    /// Runs a round on a thread of its own: it blocks its caller until its
    /// tasks end, and those tasks need the cooperative pool's threads, which
    /// a blocked test would hold.
    static func onOwnThread(_ body: @escaping @Sendable () throws(BenchError) -> SuspensionFloorRound) async throws -> SuspensionFloorRound {
        let thread = LockedValue<JoinableThread?>(nil)
        let result: Result<SuspensionFloorRound, BenchError> = await withCheckedContinuation { c in
            thread.withLock { $0 = JoinableThread(name: "floor") { c.resume(returning: Result { () throws(BenchError) in try body() }) } }
        }
        thread.withLock { $0 }?.join()
        return try result.get()
    }
}
