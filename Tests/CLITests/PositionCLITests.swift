import Foundation
import Testing

/// `position create|advance|drop|list`, `inspect`'s positions, and the exit
/// codes of their bad inputs.
@Suite struct PositionCLITests {
    private static func records(_ range: ClosedRange<Int>) -> [String] {
        range.map { "record-\($0)-" + String(repeating: "y", count: 3000) }
    }

    /// Create, list (text and JSON), advance (never back), inspect, drop.
    @Test func positionsAreManagedAndListedWithTheirLag() throws {
        let scratch = try Scratch(base: NSTemporaryDirectory())
        defer { scratch.remove() }
        let j = try BadInputTests.makeJournal(scratch, ["--segment-bytes", "256K", "--record-bytes-max", "64K"], records: Self.records(1...100))
        #expect(try CLI.run(["position", "create", "replica", "--at", "10"] + j).status == 0)
        #expect(try CLI.run(["position", "create", "backup"] + j).status == 0)
        let listed = try CLI.run(["position", "list", "--json"] + j)
        #expect(listed.status == 0, "\(listed.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: listed.stdout) as? [[String: Any]])
        #expect(array.map { $0["name"] as? String } == ["backup", "replica"])
        #expect(array.map { $0["lsn"] as? Int } == [1, 10])
        #expect(array.map { $0["lag_records"] as? Int } == [100, 91])
        #expect((array[1]["lag_bytes"] as? Int ?? 0) > 90 * 3000)
        #expect(try CLI.run(["position", "advance", "replica", "50"] + j).lines == ["position replica at LSN 50"])
        #expect(try CLI.run(["position", "advance", "replica", "20"] + j).lines == ["position replica at LSN 50"])
        let inspect = try CLI.run(["inspect", "--json"] + j)
        let object = try #require(try JSONSerialization.jsonObject(with: inspect.stdout) as? [String: Any])
        let positions = try #require(object["positions"] as? [[String: Any]])
        #expect(positions.map { $0["lsn"] as? Int } == [1, 50])
        #expect(try CLI.run(["inspect"] + j).lines.contains { $0.hasPrefix("  replica  LSN 50  lag 51 records") })
        #expect(try CLI.run(["position", "drop", "backup"] + j).status == 0)
        #expect(try CLI.run(["position", "list"] + j).lines.map { $0.split(separator: " ").first.map(String.init) } == ["replica"])
    }

    /// Bad names, duplicates, LSNs out of range and missing positions exit
    /// 64; a position that truncation overtook exits 79 when followed; a
    /// damaged position file exits 65 from every command that opens the
    /// journal.
    @Test func badInputsGetTheirExitCodes() throws {
        let scratch = try Scratch(base: NSTemporaryDirectory())
        defer { scratch.remove() }
        let j = try BadInputTests.makeJournal(scratch, ["--segment-bytes", "256K", "--record-bytes-max", "64K"], records: Self.records(1...400))
        #expect(try CLI.run(["position", "create", "lagging", "--at", "1"] + j).status == 0)
        BadInputTests.expectOneLine(try CLI.run(["position", "create", "../x"] + j), 64, contains: "name")
        BadInputTests.expectOneLine(try CLI.run(["position", "create", "lagging"] + j), 64, contains: "already exists")
        BadInputTests.expectOneLine(try CLI.run(["position", "create", "far", "--at", "999"] + j), 64, contains: "999")
        BadInputTests.expectOneLine(try CLI.run(["position", "drop", "nobody"] + j), 64, contains: "nobody")
        BadInputTests.expectOneLine(try CLI.run(["replay", "--position", "lagging"] + j), 64, contains: "--follow")
        // Within the bound, truncation keeps everything; past it, it goes on.
        #expect(try CLI.run(["truncate", "--before", "400"] + j).lines.first?.hasPrefix("released 0 segments") == true)
        #expect(try CLI.run(["truncate", "--before", "400", "--retained-bytes-max", "512K"] + j).status == 0)
        BadInputTests.expectOneLine(try CLI.run(["replay", "--follow", "--position", "lagging"] + j), 79, contains: "fell behind")
        #expect(try CLI.run(["position", "list"] + j).lines.first?.hasSuffix("FELL BEHIND") == true)
        // A damaged position file.
        let file = scratch.path("j/position-lagging.pos")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[40] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        for command in [["inspect"], ["verify"], ["position", "list"], ["truncate", "--before", "1"]] {
            BadInputTests.expectOneLine(try CLI.run(command + j), 65, contains: "position-lagging.pos")
        }
    }
}
