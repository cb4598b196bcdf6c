import Logging

/// The journal logs every open at level info, and `Journal.openForReading`
/// takes no logger: the explorer opens journals by the thousand, so the
/// test process keeps the journal's logs to itself. Bootstrapped once.
public let journalLogsSilenced: Void = {
    LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
}()
