public import PageStore

/// Figures of an open key-value store, read-only (see `PageStoreStatistics`).
public struct KeyValueStoreStatistics: Sendable, Equatable {
    /// The page store's figures: journal, page table, checkpoints.
    public var pageStore: PageStoreStatistics
    /// Transactions committed by write groups since the store opened.
    public var writeGroupTransactions: Int
    /// Batches those transactions held: per transaction, the mean group size.
    public var writeGroupBatches: Int
}
