/// The measurements of one writer count of `bench kv`, one entry per
/// round and side, and the line that reports their medians.
struct KVCell {
    var ours: [Double] = []
    var oursGets: [Double] = []
    var batchesPerTransaction: [Double] = []
    /// Transaction-record bytes journaled per put (our side).
    var recordBytesPerPut: [Double] = []
    var sqlite: [Double] = []
    var sqliteGets: [Double] = []
    var rocksdb: [Double] = []
    var rocksdbGets: [Double] = []

    /// One JSON object: medians, the min and max of the put rates, ratios
    /// of the medians.
    func json(writers: Int, kind: BenchKV.WritersKind, rounds: Int, seconds: Double, warmup: Double) -> String {
        let m = Self.median(ours), s = Self.median(sqlite), r = Self.median(rocksdb)
        let fields: [String] = [
            "\"bench\": \"kv\"", "\"writers\": \(writers)",
            "\"puts_per_s\": \(Int(m))", Self.range("puts_per_s", ours),
            "\"sqlite_puts_per_s\": \(Int(s))", Self.range("sqlite_puts_per_s", sqlite),
            "\"rocksdb_puts_per_s\": \(Int(r))", Self.range("rocksdb_puts_per_s", rocksdb),
            "\"ratio\": \(Self.fmt(m / max(s, 1)))", "\"ratio_rocksdb\": \(Self.fmt(m / max(r, 1)))",
            "\"gets_per_s\": \(Int(Self.median(oursGets)))", "\"sqlite_gets_per_s\": \(Int(Self.median(sqliteGets)))",
            "\"rocksdb_gets_per_s\": \(Int(Self.median(rocksdbGets)))",
            "\"writers_kind\": \"\(kind.rawValue)\"", "\"batches_per_transaction\": \(Self.fmt(Self.median(batchesPerTransaction)))",
            "\"record_bytes_per_put\": \(Int(Self.median(recordBytesPerPut)))",
            "\"rocksdb_options\": \"sync=true, WAL on, defaults otherwise\"",
            "\"rounds\": \(rounds)", "\"seconds\": \(Self.fmt(seconds))", "\"warmup_s\": \(Self.fmt(warmup))",
        ]
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// One line of text: each side's median and range, the ratios.
    func text(writers: Int, kind: BenchKV.WritersKind) -> String {
        let m = Self.median(ours), s = Self.median(sqlite), r = Self.median(rocksdb)
        return "writers \(writers): page store \(Int(m)) puts/s \(Self.span(ours)), SQLite \(Int(s)) puts/s \(Self.span(sqlite)), "
            + "RocksDB \(Int(r)) puts/s \(Self.span(rocksdb)); ratio \(Self.fmt(m / max(s, 1)))x SQLite, \(Self.fmt(m / max(r, 1)))x RocksDB "
            + "(our writers: \(kind.rawValue), \(Self.fmt(Self.median(batchesPerTransaction))) batches per transaction, \(Int(Self.median(recordBytesPerPut))) record bytes per put); gets/s (1 reader) "
            + "page store \(Int(Self.median(oursGets))), SQLite \(Int(Self.median(sqliteGets))), RocksDB \(Int(Self.median(rocksdbGets)))"
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : s[s.count / 2]
    }

    static func fmt(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        return "\(r)"
    }

    private static func range(_ key: String, _ xs: [Double]) -> String {
        "\"\(key)_min\": \(Int(xs.min() ?? 0)), \"\(key)_max\": \(Int(xs.max() ?? 0))"
    }

    private static func span(_ xs: [Double]) -> String { "[\(Int(xs.min() ?? 0))-\(Int(xs.max() ?? 0))]" }
}
