// Source priority and longest-prefix match of the binding table.

import TaglineCore
import TaglineStore
import XCTest

final class BindingTableTests: XCTestCase {
    private func binding(_ prefix: String, _ sgt: UInt16, _ source: BindingSource) -> SGTBinding {
        SGTBinding(prefix: IPPrefix(prefix)!, sgt: SGT(sgt)!, source: source)
    }

    func testPriorityWinnerAndFallback() {
        var table = BindingTable()
        let prefix = IPPrefix("192.0.2.0/24")!

        // API first: it wins while alone.
        XCTAssertEqual(
            table.add(binding("192.0.2.0/24", 40, .api)),
            EffectiveBindingChange(prefix: prefix, binding: binding("192.0.2.0/24", 40, .api)))
        // CLI (configuration) beats API.
        XCTAssertEqual(
            table.add(binding("192.0.2.0/24", 20, .config))?.binding,
            binding("192.0.2.0/24", 20, .config))
        // SXP beats CLI, as on IOS.
        XCTAssertEqual(
            table.add(binding("192.0.2.0/24", 10, .sxp))?.binding,
            binding("192.0.2.0/24", 10, .sxp))
        // A weaker source changing its tag does not change the winner.
        XCTAssertNil(table.add(binding("192.0.2.0/24", 21, .config)))
        XCTAssertEqual(table.all.count, 3)
        XCTAssertEqual(table.effective, [binding("192.0.2.0/24", 10, .sxp)])

        // The winner goes away: the next source takes over, with its latest tag.
        XCTAssertEqual(
            table.remove(prefix: prefix, source: .sxp)?.binding,
            binding("192.0.2.0/24", 21, .config))
        XCTAssertNil(table.remove(prefix: prefix, source: .api))
        XCTAssertNil(table.remove(prefix: prefix, source: .api))
        XCTAssertEqual(
            table.remove(prefix: prefix, source: .config),
            EffectiveBindingChange(prefix: prefix, binding: nil))
        XCTAssertEqual(table.count, 0)
        XCTAssertTrue(table.all.isEmpty)
    }

    func testSameTagFromStrongerSourceChangesSource() {
        var table = BindingTable([binding("198.51.100.7/32", 5, .api)])
        let change = table.add(binding("198.51.100.7/32", 5, .internal))
        XCTAssertEqual(change?.binding?.source, .internal)
    }

    func testLongestPrefixMatchTable() {
        let table = BindingTable([
            binding("0.0.0.0/0", 2, .config),
            binding("192.0.2.0/24", 10, .config),
            binding("192.0.2.128/25", 11, .api),
            binding("192.0.2.200/32", 12, .sxp),
            binding("2001:db8::/32", 60, .config),
            binding("2001:db8:1::/48", 61, .api),
        ])
        let cases: [(address: String, sgt: UInt16?)] = [
            ("192.0.2.1", 10),
            ("192.0.2.127", 10),
            ("192.0.2.128", 11),
            ("192.0.2.200", 12),
            ("192.0.2.201", 11),
            ("203.0.113.9", 2),
            ("2001:db8::1", 60),
            ("2001:db8:1::1", 61),
            ("2001:db8:1:ffff::1", 61),
            ("2001:db9::1", nil),
        ]
        for (address, sgt) in cases {
            XCTAssertEqual(table.lookup(IPAddress(address)!)?.sgt.value, sgt, address)
        }
    }
}
