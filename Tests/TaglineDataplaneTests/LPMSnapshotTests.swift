import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Snapshots of an LPMTable under batches of changes: each keeps the lookup results of its moment,
/// a batch copies only the pieces it touches, and replaced pieces are freed.
final class LPMSnapshotTests: XCTestCase {
    /// Random insert and delete batches, each followed by a snapshot; every snapshot is
    /// checked against a PrefixTable of its own moment, also after later batches.
    func testBatches() {
        var random = SplitMix64(state: 0xBA7C)
        var table = LPMTable()
        var stored: [IPPrefix: SGT] = [IPPrefix("0.0.0.0/0")!: SGT(2)!]
        table.insert(IPPrefix("0.0.0.0/0")!, SGT(2)!)
        var order = Array(stored.keys)
        var views: [(LPMSnapshot, PrefixTable<SGT>, [IPPrefix])] = []
        for batch in 0..<12 {
            for _ in 0..<400 {
                if Int.random(in: 0..<4, using: &random) == 0, !order.isEmpty {
                    let prefix = order[Int.random(in: 0..<order.count, using: &random)]
                    XCTAssertEqual(table.remove(prefix), stored.removeValue(forKey: prefix))
                } else {
                    let prefix = LPMTableTests.randomPrefix(&random)
                    let tag = SGT(UInt16.random(in: 1...0xFFFE, using: &random))!
                    if stored.updateValue(tag, forKey: prefix) == nil { order.append(prefix) }
                    table.insert(prefix, tag)
                }
            }
            var reference = PrefixTable<SGT>()
            for (prefix, tag) in stored { reference.insert(prefix, tag) }
            views.append((table.snapshot(), reference, order))
            XCTAssertEqual(views.last!.0.count, stored.count, "batch \(batch)")
        }
        for (index, (view, reference, prefixes)) in views.enumerated() {
            var mismatches = 0
            for _ in 0..<3000 {
                let address = LPMTableTests.randomAddress(&random, near: prefixes)
                if view.lookup(address) != reference.lookup(address) { mismatches += 1 }
            }
            XCTAssertEqual(mismatches, 0, "snapshot \(index)")
        }
    }

    /// A batch of changes after a snapshot copies about one chunk or page per change, and
    /// the pieces it replaced are freed with the last snapshot that shows them. A table
    /// dropped with its snapshots leaves no piece behind.
    func testPiecesFreed() {
        let before = LPMTable.liveChunkCount
        var random = SplitMix64(state: 77)
        var table = LPMTable()
        for _ in 0..<20_000 {
            let address = 0xC000_0000 | random.next32() & 0x00FF_FFFF
            table.insert(IPPrefix(covering: .v4(address), length: 32), SGT(5)!)
        }
        var first: LPMSnapshot? = table.snapshot()
        let owned = LPMTable.liveChunkCount - before
        XCTAssertGreaterThan(owned, 0)

        for value in UInt16(10)..<UInt16(20) {
            let address = 0xC000_0000 | random.next32() & 0x00FF_FFFF
            table.insert(IPPrefix(covering: .v4(address), length: 32), SGT(value)!)
        }
        var second: LPMSnapshot? = table.snapshot()
        let copied = LPMTable.liveChunkCount - before - owned
        XCTAssertGreaterThan(copied, 0)
        XCTAssertLessThanOrEqual(copied, 20, "10 changes copy at most a chunk and a page each")

        // The pieces the batch replaced are shown by the first snapshot only, and go with it.
        let replaced = first!.piecesToFree.count
        XCTAssertGreaterThan(replaced, 0)
        first = nil
        XCTAssertEqual(LPMTable.liveChunkCount - before, owned + copied - replaced)
        // The table still shows everything the second snapshot shows.
        second = nil
        XCTAssertEqual(LPMTable.liveChunkCount - before, owned + copied - replaced)
        table = LPMTable()
        XCTAssertEqual(LPMTable.liveChunkCount, before)
        XCTAssertNil(first)
        XCTAssertNil(second)
    }

    /// The publisher through a TableSlot: retired tables and the pieces they alone show
    /// are freed once the epoch domain reclaims them.
    func testPublisherReclaims() {
        let before = LPMTable.liveChunkCount
        do {
            let domain = EpochDomain(workerCount: 1)
            let slot = TableSlot(BindingTable.empty, domain: domain)
            let publisher = BindingPublisher(slot: slot, minimumInterval: 0)
            publisher.replaceAll(
                (0..<5000).map { index in
                    SGTBinding(
                        prefix: IPPrefix(covering: .v4(0xC633_0000 | UInt32(index)), length: 32),
                        sgt: SGT(7)!, source: .api)
                })
            let settled = LPMTable.liveChunkCount
            for round in 0..<50 {
                let prefix = IPPrefix(covering: .v4(0xCB00_7100 | UInt32(round)), length: 32)
                publisher.stage(prefix, SGTBinding(prefix: prefix, sgt: SGT(9)!, source: .api))
                publisher.flush()
                domain.enter(worker: 0)
                XCTAssertEqual(slot.current.sgt(for: prefix.address), SGT(9)!)
                domain.leave(worker: 0)
                domain.reclaim()
            }
            XCTAssertEqual(publisher.publications, 51)
            XCTAssertLessThan(LPMTable.liveChunkCount - settled, 10, "retired pieces freed")
        }
        XCTAssertEqual(LPMTable.liveChunkCount, before)
    }
}
