import TaglineCore
import XCTest

@testable import TaglineDataplane

final class PrefixTableTests: XCTestCase {
    private func table(_ entries: [(String, Int)]) -> PrefixTable<Int> {
        var table = PrefixTable<Int>()
        for (prefix, value) in entries { table.insert(IPPrefix(prefix)!, value) }
        return table
    }

    func testLongestMatchTable() {
        let prefixes = table([
            ("0.0.0.0/0", 1),
            ("192.0.2.0/24", 24),
            ("192.0.2.128/25", 25),
            ("192.0.2.2/32", 32),
            ("198.51.100.0/24", 100),
            ("::/0", 6),
            ("2001:db8::/32", 632),
            ("2001:db8:a::/48", 648),
            ("2001:db8:a::2/128", 6128),
        ])
        let rows: [(address: String, expected: Int?)] = [
            ("192.0.2.2", 32),
            ("192.0.2.3", 24),
            ("192.0.2.200", 25),
            ("192.0.2.127", 24),
            ("198.51.100.77", 100),
            ("203.0.113.2", 1),
            ("2001:db8:a::2", 6128),
            ("2001:db8:a::3", 648),
            ("2001:db8:b::1", 632),
            ("2001:db9::1", 6),
        ]
        for row in rows {
            XCTAssertEqual(prefixes.lookup(IPAddress(row.address)!), row.expected, row.address)
        }
    }

    func testNoDefaultMeansNoMatch() {
        let prefixes = table([("192.0.2.0/24", 1), ("2001:db8::/32", 2)])
        XCTAssertNil(prefixes.lookup(IPAddress("203.0.113.1")!))
        XCTAssertNil(prefixes.lookup(IPAddress("2001:db9::1")!))
    }

    func testFamiliesStaySeparate() {
        // ::/0 must not match IPv4, and 0.0.0.0/0 must not match IPv6.
        let prefixes = table([("::/0", 6)])
        XCTAssertNil(prefixes.lookup(IPAddress("192.0.2.1")!))
        XCTAssertEqual(table([("0.0.0.0/0", 4)]).lookup(IPAddress("2001:db8::1")!), nil)
    }

    func testInsertReplacesEqualPrefix() {
        var prefixes = table([("192.0.2.0/24", 1)])
        prefixes.insert(IPPrefix("192.0.2.0/24")!, 2)
        XCTAssertEqual(prefixes.count, 1)
        XCTAssertEqual(prefixes.lookup(IPAddress("192.0.2.9")!), 2)
    }

    func testLookupEntryReturnsPrefix() {
        let prefixes = table([("192.0.2.0/24", 1), ("192.0.2.0/28", 2)])
        let entry = prefixes.lookupEntry(IPAddress("192.0.2.5")!)
        XCTAssertEqual(entry?.prefix, IPPrefix("192.0.2.0/28"))
    }

    func testHostBitsAtBothEnds() {
        let prefixes = table([
            ("255.255.255.255/32", 1), ("0.0.0.0/32", 2),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 3),
        ])
        XCTAssertEqual(prefixes.lookup(IPAddress("255.255.255.255")!), 1)
        XCTAssertEqual(prefixes.lookup(IPAddress("0.0.0.0")!), 2)
        XCTAssertEqual(prefixes.lookup(IPAddress("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")!), 3)
        XCTAssertNil(prefixes.lookup(IPAddress("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")!))
    }
}
