import CTaglineShim
import XCTest

@testable import TaglineDataplane

final class EpochReclamationTests: XCTestCase {
    private final class Table {
        let onDeinit: () -> Void
        init(onDeinit: @escaping () -> Void) { self.onDeinit = onDeinit }
        deinit { onDeinit() }
    }

    func testRetiredTableWaitsForActiveWorker() {
        let domain = EpochDomain(workerCount: 2)
        var freed: [String] = []
        let slot = TableSlot(Table { freed.append("first") }, domain: domain)

        // Worker 0 is reading when the table is replaced; worker 1 is idle.
        domain.enter(worker: 0)
        slot.publish(Table { freed.append("second") })
        XCTAssertEqual(domain.reclaim(), 1, "worker 0 may still read the first table")
        XCTAssertEqual(freed, [])

        domain.leave(worker: 0)
        XCTAssertEqual(domain.reclaim(), 0)
        XCTAssertEqual(freed, ["first"])
    }

    func testIdleWorkersDoNotBlockReclaim() {
        let domain = EpochDomain(workerCount: 3)
        var freed = 0
        let slot = TableSlot(Table { freed += 1 }, domain: domain)
        slot.publish(Table { freed += 1 })
        slot.publish(Table { freed += 1 })
        XCTAssertEqual(domain.reclaim(), 0)
        XCTAssertEqual(freed, 2)
    }

    func testWorkerThatReenteredHasPassedQuiescence() {
        let domain = EpochDomain(workerCount: 1)
        var freed = false
        let slot = TableSlot(Table { freed = true }, domain: domain)
        domain.enter(worker: 0)
        slot.publish(Table {})
        domain.leave(worker: 0)
        domain.enter(worker: 0)
        // Inside a new critical section, which began after the swap: the old table is safe.
        XCTAssertEqual(domain.reclaim(), 0)
        XCTAssertTrue(freed)
        domain.leave(worker: 0)
    }

    func testReadersSeeEveryPublishedTable() {
        // One reader thread and one publisher; the reader must never see a freed table.
        let domain = EpochDomain(workerCount: 1)
        let slot = TableSlot(SATable(states: []), domain: domain)
        let done = StopFlag()
        let reader = Thread {
            var reads = 0
            while !done.isSet || reads < 1000 {
                domain.enter(worker: 0)
                reads += slot.current.inbound.count
                reads += 1
                domain.leave(worker: 0)
            }
        }
        reader.start()
        for _ in 0..<2000 {
            slot.publish(SATable(states: []))
            domain.reclaim()
        }
        done.set()
        while reader.isExecuting { usleep(1000) }
        XCTAssertGreaterThanOrEqual(domain.reclaim(), 0)
    }
}

/// A flag one thread sets and another polls.
final class StopFlag: @unchecked Sendable {
    private let word = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)

    init() { word.initialize(to: 0) }
    deinit { word.deallocate() }

    var isSet: Bool { tagline_atomic_load_u64(word) != 0 }
    func set() { tagline_atomic_store_u64(word, 1) }
}
