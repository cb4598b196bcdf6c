/// What the batches of a key-value crash workload look like: how many, how
/// many operations at most in each, over how many keys, with values of how
/// many bytes at most. The generator (`KeyValueCrashWorkload`) draws its
/// batches in this shape; the explorer's workload carries one to hand it.
public struct KeyValueBatchShape: Sendable, Equatable {
    public var batchCount: Int
    public var operationsPerBatchMax: Int
    public var keySpace: Int
    public var valueBytesMax: Int

    public init(batchCount: Int, operationsPerBatchMax: Int, keySpace: Int, valueBytesMax: Int) {
        self.batchCount = batchCount
        self.operationsPerBatchMax = operationsPerBatchMax
        self.keySpace = keySpace
        self.valueBytesMax = valueBytesMax
    }
}
