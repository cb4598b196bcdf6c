import Foundation
@_spi(Testing) import Journal
import JournalFileStorage
import JournalPrimitives
import JournalStorage
@_spi(Testing) import JournalTesting
import PageStore
import TestSupport

extension TemporaryDirectory {
    /// The store layout in this directory (without O_DIRECT: tmpfs and
    /// overlay file systems differ in their support; O_DSYNC stays).
    func location() throws -> PageStoreLocation {
        var options = FileSystemStorage.Options()
        options.directIO = false
        return try PageStoreLocation.directory(path: path + "/store", options: options, create: true)
    }
}

/// A small configuration: 4 KiB pages, 1 MiB journal segments.
func smallConfiguration(pageCountMax: UInt64 = 4096, recordBytesMax: Int = 256 << 10) -> PageStoreConfiguration {
    var c = PageStoreConfiguration()
    c.pageCountMax = pageCountMax
    c.journal.segmentBytes = 1 << 20
    c.journal.recordBytesMax = recordBytesMax
    return c
}

/// A page whose every 8-byte word is `value` (0 reads as a page never written).
func page(_ value: UInt64, pageBytes: Int = 4096) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: pageBytes)
    out.withUnsafeMutableBytes { b in
        for i in stride(from: 0, to: pageBytes, by: 8) { b.storeBytes(of: value.littleEndian, toByteOffset: i, as: UInt64.self) }
    }
    return out
}

/// The value `page(_:)` filled a page with; nil if the page is not uniform.
func value(of image: [UInt8]) -> UInt64? {
    image.withUnsafeBytes { b in
        let first = b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        for i in stride(from: 8, to: b.count, by: 8) where b.loadUnaligned(fromByteOffset: i, as: UInt64.self) != first { return nil }
        return UInt64(littleEndian: first)
    }
}

/// Options for the manual runtime on the simulated disk.
func manualOptions(applyThreshold: Int = 4096) -> PageStoreOptions {
    var o = PageStoreOptions()
    o.journal.runtime = .manual
    o.applyThresholdVersions = applyThreshold
    o.tableImageBytesMax = 0  // durable versions are read through the journal's mapping
    return o
}
