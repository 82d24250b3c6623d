// Replacing one source's bindings on a configuration reload, and the order of
// sources on one prefix: the loser is kept and takes over again.

import Foundation
import TaglineCore
import TaglineStore
import XCTest

final class SourceReplaceTests: XCTestCase {
    var directory = ""

    override func setUp() { directory = makeTemporaryDirectory() }
    override func tearDown() { removeDirectory(directory) }

    private func binding(_ prefix: String, _ sgt: UInt16, _ source: BindingSource) -> SGTBinding {
        SGTBinding(prefix: IPPrefix(prefix)!, sgt: SGT(sgt)!, source: source)
    }

    func testStaleInternalRemoved() throws {
        let store = try BindingStore(path: directory + "/bindings.db")
        var table = BindingTable()
        try store.add(binding("192.0.2.1/32", 10, .config))
        table.add(binding("192.0.2.1/32", 10, .config))

        let first = try store.replace(
            source: .internal,
            with: [
                binding("192.0.2.1/32", 2, .internal), binding("2001:db8::1/128", 2, .internal),
            ],
            in: &table)
        XCTAssertEqual(first.removed, 0)
        XCTAssertEqual(first.changes.count, 2)
        XCTAssertEqual(table.effective(for: IPPrefix("192.0.2.1/32")!)?.source, .internal)

        // The address left the configuration: its INTERNAL binding goes, the CLI one returns.
        let second = try store.replace(
            source: .internal, with: [binding("2001:db8::1/128", 2, .internal)], in: &table)
        XCTAssertEqual(second.removed, 1)
        XCTAssertEqual(
            second.changes,
            [
                EffectiveBindingChange(
                    prefix: IPPrefix("192.0.2.1/32")!, binding: binding("192.0.2.1/32", 10, .config)
                )
            ])
        XCTAssertEqual(
            Set(try store.list(source: .internal)), [binding("2001:db8::1/128", 2, .internal)])

        // A store reopened after a restart loads the same effective bindings.
        let reopened = BindingTable(try BindingStore(path: directory + "/bindings.db").loadAll())
        XCTAssertEqual(reopened.effective, table.effective)
    }

    func testSourceOrder() {
        var table = BindingTable()
        let prefix = IPPrefix("198.51.100.0/24")!
        for (sgt, source) in [(40, BindingSource.api), (30, .config), (20, .sxp), (10, .internal)] {
            table.add(binding("198.51.100.0/24", UInt16(sgt), source))
            XCTAssertEqual(table.effective(for: prefix)?.source, source)
        }
        XCTAssertEqual(table.countsBySource, [.internal: 1, .config: 1, .api: 1, .sxp: 1])
        table.add(binding("198.51.100.0/24", 41, .api))
        XCTAssertEqual(table.countsBySource[.api], 1)
        for (gone, next) in [(BindingSource.internal, BindingSource.sxp), (.sxp, .config)] {
            table.remove(prefix: prefix, source: gone)
            XCTAssertEqual(table.effective(for: prefix)?.source, next)
        }
        table.remove(prefix: prefix, source: .config)
        XCTAssertEqual(table.effective(for: prefix)?.sgt, SGT(41))
        table.remove(prefix: prefix, source: .api)
        XCTAssertNil(table.effective(for: prefix))
        XCTAssertEqual(table.countsBySource, [:])
    }
}
