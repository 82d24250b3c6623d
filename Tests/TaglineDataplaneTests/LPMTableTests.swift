import TaglineCore
import XCTest

@testable import TaglineDataplane

/// A seeded SplitMix64, so a failing random case repeats.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class LPMTableTests: XCTestCase {
    private func prefix(_ text: String) -> IPPrefix { IPPrefix(text)! }
    private func address(_ text: String) -> IPAddress { IPAddress(text)! }
    private func sgt(_ value: UInt16) -> SGT { SGT(value)! }

    private func table(_ rows: [(String, UInt16)]) -> LPMTable {
        var table = LPMTable()
        for (text, value) in rows { table.insert(prefix(text), sgt(value)) }
        return table
    }

    private static let overlapping: [(String, UInt16)] = [
        ("0.0.0.0/0", 1),
        ("198.51.0.0/16", 16),
        ("198.51.100.0/23", 23),
        ("198.51.100.0/24", 24),
        ("198.51.100.128/25", 25),
        ("198.51.100.7/32", 32),
        ("255.255.255.255/32", 33),
        ("::/0", 60),
        ("2001:db8::/32", 632),
        ("2001:db8:a::/48", 648),
        ("2001:db8:a:1::/64", 664),
        ("2001:db8:a:1::7/128", 6128),
        ("2001:db8:a:1::/127", 6127),
    ]

    private static let overlappingRows: [(address: String, expected: UInt16?)] = [
        ("198.51.100.7", 32),
        ("198.51.100.6", 24),
        ("198.51.100.200", 25),
        ("198.51.101.1", 23),
        ("198.51.7.1", 16),
        ("203.0.113.9", 1),
        ("0.0.0.0", 1),
        ("255.255.255.255", 33),
        ("255.255.255.254", 1),
        ("2001:db8:a:1::7", 6128),
        ("2001:db8:a:1::6", 664),
        ("2001:db8:a:1::1", 6127),
        ("2001:db8:a:2::1", 648),
        ("2001:db8:b::1", 632),
        ("2001:db9::1", 60),
        ("::", 60),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 60),
    ]

    func testOverlappingPrefixes() {
        let table = table(LPMTableTests.overlapping)
        XCTAssertEqual(table.count, LPMTableTests.overlapping.count)
        for row in LPMTableTests.overlappingRows {
            XCTAssertEqual(table.lookup(address(row.address))?.value, row.expected, row.address)
        }
    }

    func testBulkBuildMatchesInserts() {
        let bulk = LPMTable(bindings: LPMTableTests.overlapping.map { (prefix($0.0), sgt($0.1)) })
        XCTAssertEqual(bulk.count, LPMTableTests.overlapping.count)
        for row in LPMTableTests.overlappingRows {
            XCTAssertEqual(bulk.lookup(address(row.address))?.value, row.expected, row.address)
        }
    }

    func testEmptyTableMatchesNothing() {
        let table = LPMTable()
        XCTAssertNil(table.lookup(address("192.0.2.1")))
        XCTAssertNil(table.lookup(address("2001:db8::1")))
        XCTAssertEqual(table.memoryBytes < 1 << 20, true, "no first level before an insert")
    }

    func testHostPrefixesOnly() {
        let table = table([("192.0.2.2/32", 2), ("2001:db8::2/128", 3)])
        XCTAssertEqual(table.lookup(address("192.0.2.2"))?.value, 2)
        XCTAssertNil(table.lookup(address("192.0.2.3")))
        XCTAssertEqual(table.lookup(address("2001:db8::2"))?.value, 3)
        XCTAssertNil(table.lookup(address("2001:db8::3")))
    }

    func testMappedAddressIsNotIPv4() {
        let table = table([("192.0.2.0/24", 4), ("::ffff:0:0/96", 6)])
        XCTAssertEqual(table.lookup(address("192.0.2.1"))?.value, 4)
        XCTAssertEqual(table.lookup(address("::ffff:192.0.2.1"))?.value, 6)
        XCTAssertNil(table.lookup(address("198.51.100.1")))
        let mappedOnly = self.table([("::ffff:192.0.2.0/120", 7)])
        XCTAssertNil(mappedOnly.lookup(address("192.0.2.1")))
        XCTAssertEqual(mappedOnly.lookup(address("::ffff:192.0.2.1"))?.value, 7)
    }

    func testReplaceKeepsCount() {
        var table = table([("192.0.2.0/24", 1), ("192.0.2.1/32", 2)])
        table.insert(prefix("192.0.2.0/24"), sgt(3))
        table.insert(prefix("192.0.2.1/32"), sgt(4))
        XCTAssertEqual(table.count, 2)
        XCTAssertEqual(table.lookup(address("192.0.2.9"))?.value, 3)
        XCTAssertEqual(table.lookup(address("192.0.2.1"))?.value, 4)
        table.remove(prefix("192.0.2.1/32"))
        XCTAssertEqual(table.ipv4BlockCount, 0, "a replaced prefix must count once in its block")
    }

    /// Each step inserts (sgt non-nil) or removes a prefix, then checks lookups.
    func testDeletesRestoreCoveringPrefix() {
        typealias Step = (prefix: String, sgt: UInt16?, checks: [(String, UInt16?)])
        let steps: [Step] = [
            ("0.0.0.0/0", 1, [("192.0.2.1", 1)]),
            ("192.0.0.0/16", 16, [("192.0.2.1", 16)]),
            ("192.0.2.0/24", 24, [("192.0.2.1", 24)]),
            ("192.0.2.0/28", 28, [("192.0.2.1", 28), ("192.0.2.16", 24)]),
            ("192.0.2.1/32", 32, [("192.0.2.1", 32), ("192.0.2.2", 28)]),
            ("192.0.2.0/28", nil, [("192.0.2.1", 32), ("192.0.2.2", 24)]),
            ("192.0.2.0/24", nil, [("192.0.2.1", 32), ("192.0.2.2", 16)]),
            ("192.0.2.1/32", nil, [("192.0.2.1", 16), ("192.0.3.1", 16)]),
            ("192.0.0.0/16", nil, [("192.0.2.1", 1)]),
            ("0.0.0.0/0", nil, [("192.0.2.1", nil)]),
            ("::/0", 60, [("2001:db8::1", 60)]),
            ("2001:db8::/32", 632, [("2001:db8::1", 632)]),
            ("2001:db8::/40", 640, [("2001:db8::1", 640)]),
            ("2001:db8::1/128", 6128, [("2001:db8::1", 6128), ("2001:db8::2", 640)]),
            ("2001:db8::/40", nil, [("2001:db8::1", 6128), ("2001:db8::2", 632)]),
            ("2001:db8::1/128", nil, [("2001:db8::1", 632)]),
            ("2001:db8::/32", nil, [("2001:db8::1", 60)]),
            ("::/0", nil, [("2001:db8::1", nil)]),
        ]
        var table = LPMTable()
        for (number, step) in steps.enumerated() {
            if let value = step.sgt {
                table.insert(prefix(step.prefix), sgt(value))
            } else {
                XCTAssertNotNil(table.remove(prefix(step.prefix)), "step \(number)")
            }
            for (text, expected) in step.checks {
                XCTAssertEqual(
                    table.lookup(address(text))?.value, expected, "step \(number): \(text)")
            }
        }
        XCTAssertEqual(table.count, 0)
        XCTAssertNil(table.remove(prefix("192.0.2.0/24")))
    }

    func testLongPrefixBlocksFreed() {
        var table = table([("198.51.100.0/24", 24)])
        XCTAssertEqual(table.ipv4BlockCount, 0)
        table.insert(prefix("198.51.100.128/25"), sgt(25))
        table.insert(prefix("198.51.100.7/32"), sgt(32))
        table.insert(prefix("203.0.113.9/32"), sgt(9))
        XCTAssertEqual(table.ipv4BlockCount, 2)
        table.remove(prefix("198.51.100.128/25"))
        XCTAssertEqual(table.ipv4BlockCount, 2)
        table.remove(prefix("198.51.100.7/32"))
        XCTAssertEqual(table.ipv4BlockCount, 1)
        XCTAssertEqual(table.lookup(address("198.51.100.7"))?.value, 24)
        XCTAssertEqual(table.lookup(address("198.51.100.200"))?.value, 24)
        table.remove(prefix("203.0.113.9/32"))
        XCTAssertEqual(table.ipv4BlockCount, 0)
        XCTAssertNil(table.lookup(address("203.0.113.9")))
        table.insert(prefix("203.0.113.10/31"), sgt(31))
        XCTAssertEqual(table.ipv4BlockCount, 1, "a freed block is reused")
        XCTAssertEqual(table.lookup(address("203.0.113.11"))?.value, 31)
        XCTAssertNil(table.lookup(address("203.0.113.9")))
    }

    func testIPv6LeavesMoveDown() {
        var table = table([("2001:db8::/32", 32), ("2001:db8:0:1::1/128", 1)])
        XCTAssertEqual(table.ipv6LeafCount, 1)
        let nodesWithOneLeaf = table.ipv6NodeCount
        table.insert(prefix("2001:db8:0:1::2/128"), sgt(2))
        table.insert(prefix("2001:db8:0:1::/64"), sgt(64))
        XCTAssertGreaterThan(table.ipv6NodeCount, nodesWithOneLeaf)
        let rows: [(String, UInt16?)] = [
            ("2001:db8:0:1::1", 1), ("2001:db8:0:1::2", 2), ("2001:db8:0:1::3", 64),
            ("2001:db8:0:2::1", 32), ("2001:db9::1", nil),
        ]
        for (text, expected) in rows {
            XCTAssertEqual(table.lookup(address(text))?.value, expected, text)
        }
        XCTAssertEqual(table.remove(prefix("2001:db8:0:1::1/128"))?.value, 1)
        XCTAssertEqual(table.lookup(address("2001:db8:0:1::1"))?.value, 64)
        XCTAssertEqual(table.remove(prefix("2001:db8:0:1::/64"))?.value, 64)
        XCTAssertEqual(table.lookup(address("2001:db8:0:1::1"))?.value, 32)
        XCTAssertEqual(table.lookup(address("2001:db8:0:1::2"))?.value, 2)
        table.insert(prefix("2001:db8:0:1::2/128"), sgt(3))
        XCTAssertEqual(table.lookup(address("2001:db8:0:1::2"))?.value, 3)
        XCTAssertEqual(table.count, 2)
    }

    func testCopyLeavesOriginalUnchanged() {
        let published = table([("192.0.2.0/24", 1), ("2001:db8::/32", 2)])
        var next = published
        next.insert(prefix("192.0.2.1/32"), sgt(3))
        next.remove(prefix("2001:db8::/32"))
        XCTAssertEqual(published.lookup(address("192.0.2.1"))?.value, 1)
        XCTAssertEqual(published.lookup(address("2001:db8::1"))?.value, 2)
        XCTAssertEqual(next.lookup(address("192.0.2.1"))?.value, 3)
        XCTAssertNil(next.lookup(address("2001:db8::1")))
    }

    func testEntriesListEveryPrefix() {
        let table = table([("2001:db8::/32", 3), ("192.0.2.0/24", 2), ("0.0.0.0/0", 1)])
        let listed = table.entries.map { "\($0.prefix) \($0.sgt)" }
        XCTAssertEqual(listed, ["0.0.0.0/0 1", "192.0.2.0/24 2", "2001:db8::/32 3"])
        var visited = 0
        table.forEach { _, _ in visited += 1 }
        XCTAssertEqual(visited, 3)
    }

    func testBulkBuildLastBindingWins() {
        let bulk = LPMTable(bindings: [
            (prefix("192.0.2.0/24"), sgt(1)), (prefix("192.0.2.0/24"), sgt(2)),
        ])
        XCTAssertEqual(bulk.count, 1)
        XCTAssertEqual(bulk.lookup(address("192.0.2.1"))?.value, 2)
    }

    /// 20,000 random prefixes, some removed again, against the binary trie PrefixTable
    /// built from the prefixes that remain.
    func testRandomAgainstPrefixTable() {
        for seed: UInt64 in [0x5EED, 7, 2026] { compareWithPrefixTable(seed: seed) }
    }

    private func compareWithPrefixTable(seed: UInt64) {
        var random = SplitMix64(state: seed)
        var stored: [IPPrefix: SGT] = [:]
        var order: [IPPrefix] = []
        var table = LPMTable()
        for (text, value) in [("0.0.0.0/0", 1), ("192.0.0.0/4", 4)] as [(String, UInt16)] {
            stored[prefix(text)] = sgt(value)
            order.append(prefix(text))
            table.insert(prefix(text), sgt(value))
        }
        for _ in 0..<20_000 {
            let prefix = LPMTableTests.randomPrefix(&random)
            let tag = SGT(UInt16.random(in: 1...0xFFFE, using: &random))!
            if stored.updateValue(tag, forKey: prefix) == nil { order.append(prefix) }
            table.insert(prefix, tag)
        }
        for prefix in order where Int.random(in: 0..<10, using: &random) == 0 {
            XCTAssertEqual(table.remove(prefix), stored.removeValue(forKey: prefix))
        }
        var reference = PrefixTable<SGT>()
        for (prefix, tag) in stored { reference.insert(prefix, tag) }
        let bulk = LPMTable(bindings: stored.map { ($0.key, $0.value) })
        XCTAssertEqual(table.count, stored.count)
        XCTAssertEqual(bulk.count, stored.count)

        var mismatches = 0
        for _ in 0..<20_000 {
            let address = LPMTableTests.randomAddress(&random, near: order)
            let expected = reference.lookup(address)
            if table.lookup(address) != expected || bulk.lookup(address) != expected {
                mismatches += 1
                if mismatches <= 5 {
                    XCTFail("seed \(seed): lookup of \(address) differs from PrefixTable")
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "seed \(seed)")
    }

    /// IPv4 lengths from 8 and IPv6 lengths from 0 to the full width, under a few roots so
    /// that prefixes nest.
    static func randomPrefix(_ random: inout SplitMix64) -> IPPrefix {
        if Bool.random(using: &random) {
            let roots: [UInt32] = [0xC000_0200, 0xC633_6400, 0xCB00_7100, 0x0A00_0000]
            let base = roots[Int.random(in: 0..<roots.count, using: &random)]
            let spread = UInt32.random(in: 0...0xFFFF, using: &random)
            // Lengths under 8 rewrite up to 2^24 slots each, too slow in a debug build,
            // so the test inserts 0.0.0.0/0 and 192.0.0.0/4 once instead.
            let length = Int.random(in: 8...32, using: &random)
            return IPPrefix(covering: .v4(base ^ spread), length: length)
        }
        let roots: [UInt64] = [0x2001_0DB8_0000_0000, 0x2001_0DB8_000A_0000]
        let high =
            roots[Int.random(in: 0..<roots.count, using: &random)]
            ^ UInt64.random(in: 0...0xFFFF, using: &random)
        let low = UInt64.random(in: 0...0xFF, using: &random)
        let length = Int.random(in: 0...128, using: &random)
        return IPPrefix(covering: .v6(high, low), length: length)
    }

    /// Returns an address inside a stored prefix with its host bits randomized, or a random one.
    static func randomAddress(_ random: inout SplitMix64, near prefixes: [IPPrefix])
        -> IPAddress
    {
        let base = prefixes[Int.random(in: 0..<prefixes.count, using: &random)].address
        switch base {
        case .v4(let value):
            if Int.random(in: 0..<8, using: &random) == 0 { return .v4(random.next32()) }
            return .v4(value ^ UInt32.random(in: 0...0x3FF, using: &random))
        case .v6(let high, let low):
            if Int.random(in: 0..<8, using: &random) == 0 {
                return .v6(random.next(), random.next())
            }
            return .v6(high, low ^ UInt64.random(in: 0...0x3FF, using: &random))
        }
    }
}

extension SplitMix64 {
    mutating func next32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
}
