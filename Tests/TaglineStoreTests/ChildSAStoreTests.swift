// The SAD store: Child SAs, SPI allocation, sequence leases and counters.

import Foundation
import TaglineCore
import TaglineStore
import XCTest

/// Creates a Child SA between gateway 1 (198.51.100.1) and gateway 2 (198.51.100.2).
func makeChildSA(inboundSPI: UInt32, outboundSPI: UInt32 = 0xC0FF_EE01) -> ChildSA {
    ChildSA(
        inboundSPI: inboundSPI, outboundSPI: outboundSPI,
        ikeSAName: "0102030405060708-1112131415161718",
        localAddress: IPAddress("198.51.100.1")!, remoteAddress: IPAddress("198.51.100.2")!,
        udpEncapsulation: nil,
        localSelectors: [TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!)],
        remoteSelectors: [TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!)],
        encryption: .aesCBC128, integrity: .hmacSHA1_96,
        inboundKeys: ChildSAKeys(
            encryptionKey: Array(repeating: 0x11, count: 16),
            integrityKey: Array(repeating: 0x22, count: 20)),
        outboundKeys: ChildSAKeys(
            encryptionKey: Array(repeating: 0x33, count: 16),
            integrityKey: Array(repeating: 0x44, count: 20)),
        taggingNegotiated: true, cryptoMapName: "cmap", interfaceName: "out0",
        transformDescription: "esp-aes esp-sha-hmac", installedAt: 1_700_000_000)
}

final class ChildSAStoreTests: XCTestCase {
    var directory = ""

    override func setUp() { directory = makeTemporaryDirectory() }
    override func tearDown() { removeDirectory(directory) }

    func testSaveLoadDeleteChildSA() throws {
        let path = directory + "/sad.db"
        let store = try ChildSAStore(path: path)
        let first = makeChildSA(inboundSPI: 4096)
        try store.save(first, at: 1)
        try store.save(makeChildSA(inboundSPI: 300), at: 1)

        let reopened = try ChildSAStore(path: path)
        XCTAssertEqual(try reopened.loadAll().map(\.inboundSPI), [300, 4096])
        XCTAssertEqual(try reopened.childSA(inboundSPI: 4096), first)
        XCTAssertEqual(try reopened.usedSPIs(), [300, 4096])

        XCTAssertTrue(try reopened.delete(inboundSPI: 4096))
        XCTAssertFalse(try reopened.delete(inboundSPI: 4096))
        XCTAssertNil(try reopened.childSA(inboundSPI: 4096))
        XCTAssertEqual(try reopened.usedSPIs(), [300])
    }

    func testSPIAllocationIsUniqueAndAbove255() throws {
        let store = try ChildSAStore(path: directory + "/sad.db")
        var generator = SystemRandomNumberGenerator()
        var seen: Set<UInt32> = []
        for _ in 0..<200 {
            let spi = try store.allocateSPI(at: 10, using: &generator)
            XCTAssertGreaterThanOrEqual(spi, 256)
            XCTAssertTrue(seen.insert(spi).inserted, "SPI \(spi) allocated twice")
        }
        XCTAssertEqual(try store.usedSPIs(), seen)
        XCTAssertFalse(try store.reserveSPI(255, at: 10))
        XCTAssertFalse(try store.reserveSPI(seen.first!, at: 10))
    }

    func testBatchAllocationReservesEach() throws {
        let store = try ChildSAStore(path: directory + "/sad.db")
        var generator = SeededGenerator(seed: 7)
        let batch = try store.allocateSPIs(count: 64, at: 10, using: &generator)
        XCTAssertEqual(batch.count, 64)
        XCTAssertEqual(Set(batch).count, 64)
        XCTAssertTrue(batch.allSatisfy { $0 >= 256 })
        XCTAssertEqual(try store.usedSPIs(), Set(batch))
    }

    func testAllocatorSkipsUsedSPIs() throws {
        let store = try ChildSAStore(path: directory + "/sad.db")
        // Two generators with one seed produce the same sequence, so the
        // second allocation run collides with every SPI of the first.
        var first = SeededGenerator(seed: 42)
        var second = SeededGenerator(seed: 42)
        let allocated = try (0..<5).map { _ in try store.allocateSPI(at: 1, using: &first) }
        let next = try store.allocateSPI(at: 1, using: &second)
        XCTAssertFalse(allocated.contains(next))
    }

    func testStaleReservationsReleased() throws {
        let store = try ChildSAStore(path: directory + "/sad.db")
        XCTAssertTrue(try store.reserveSPI(1000, at: 100))
        XCTAssertTrue(try store.reserveSPI(2000, at: 100))
        XCTAssertTrue(try store.reserveSPI(3000, at: 500))
        try store.save(makeChildSA(inboundSPI: 2000), at: 100)

        XCTAssertEqual(try store.releaseStaleReservations(olderThan: 200), 1)
        XCTAssertEqual(try store.usedSPIs(), [2000, 3000])
        try store.releaseSPI(2000)
        XCTAssertEqual(try store.usedSPIs(), [2000, 3000], "an installed SA keeps its SPI")
    }

    func testSequenceLeasesNeverOverlap() throws {
        let path = directory + "/sad.db"
        let store = try ChildSAStore(path: path)
        try store.save(makeChildSA(inboundSPI: 4096), at: 1)
        XCTAssertNil(try store.leaseSequenceNumbers(inboundSPI: 9999, count: 10))

        let first = try XCTUnwrap(try store.leaseSequenceNumbers(inboundSPI: 4096, count: 1 << 20))
        XCTAssertEqual(first.first, 1)
        XCTAssertEqual(first.count, 1 << 20)

        // A restarted sa-manager continues after the last lease.
        let reopened = try ChildSAStore(path: path)
        let second = try XCTUnwrap(try reopened.leaseSequenceNumbers(inboundSPI: 4096, count: 10))
        XCTAssertEqual(second.first, 1 + (1 << 20))
        XCTAssertEqual(try reopened.nextSequence(inboundSPI: 4096), 11 + (1 << 20))

        // Near the top of the space the lease is cut short, then empty.
        try reopened.database.run(
            "UPDATE sequence_lease SET next_sequence = ? WHERE inbound_spi = 4096",
            [.unsigned(UInt64.max - 5)])
        let last = try XCTUnwrap(try reopened.leaseSequenceNumbers(inboundSPI: 4096, count: 100))
        XCTAssertEqual(last.first, UInt64.max - 5)
        XCTAssertEqual(last.count, 5)
        let empty = try XCTUnwrap(try reopened.leaseSequenceNumbers(inboundSPI: 4096, count: 100))
        XCTAssertEqual(empty.count, 0)

        // Deleting the SA drops its lease.
        try reopened.delete(inboundSPI: 4096)
        XCTAssertEqual(try reopened.nextSequence(inboundSPI: 4096), 1)
    }

    func testCountersPersistAcrossReopen() throws {
        let path = directory + "/sad.db"
        let store = try ChildSAStore(path: path)
        try store.save(makeChildSA(inboundSPI: 4096), at: 1)
        var ledger = CounterLedger()
        var counters = SACounters()
        counters.encaps = 10
        counters.tagged = 4
        let changed = ledger.apply(
            CounterReport(
                counters: ["4096": counters, "77": counters],
                drops: [:], dataplaneStartedAt: 100))
        XCTAssertEqual(changed, [4096, 77])
        try store.saveCounters(ledger, spis: changed ?? [])

        let restored = try ChildSAStore(path: path).loadCounters()
        XCTAssertEqual(restored.dataplaneStartedAt, 100)
        XCTAssertEqual(restored.total(inboundSPI: 4096).encaps, 10)
        XCTAssertEqual(restored.total(inboundSPI: 4096).tagged, 4)
        // SPI 77 has no installed SA, so its counters were not stored.
        XCTAssertEqual(restored.total(inboundSPI: 77).encaps, 0)
    }
}

/// A deterministic generator (SplitMix64) for repeatable allocation tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class ChildSAStoreBatchTests: XCTestCase {
    var directory = ""

    override func setUp() { directory = makeTemporaryDirectory() }
    override func tearDown() { removeDirectory(directory) }

    func testBatchSaveKeepsLastOfSPI() throws {
        let path = directory + "/sad.db"
        let store = try ChildSAStore(path: path)
        let replacement = makeChildSA(inboundSPI: 4096, outboundSPI: 0xC0FF_EE02)
        try store.save(
            [makeChildSA(inboundSPI: 4096), makeChildSA(inboundSPI: 300), replacement], at: 1)

        let reopened = try ChildSAStore(path: path)
        XCTAssertEqual(try reopened.loadAll().map(\.inboundSPI), [300, 4096])
        XCTAssertEqual(try reopened.childSA(inboundSPI: 4096), replacement)
        XCTAssertEqual(try reopened.usedSPIs(), [300, 4096])
    }

    /// Rows written by Foundation's JSONEncoder, as earlier versions stored them, still load.
    func testLoadsRowsOfEarlierVersion() throws {
        let path = directory + "/sad.db"
        let childSA = makeChildSA(inboundSPI: 4096)
        let database = try SQLiteDatabase(path: path)
        _ = try ChildSAStore(database: database)
        let json = String(decoding: try JSONEncoder().encode(childSA), as: UTF8.self)
        let sorted = String(decoding: try SortedJSONEncoder().encode(childSA), as: UTF8.self)
        XCTAssertNotEqual(json, sorted)
        try database.run("INSERT INTO used_spi (spi, reserved_at) VALUES (4096, 1)")
        try database.run(
            "INSERT INTO child_sa (inbound_spi, json) VALUES (4096, ?)", [.text(json)])

        let reopened = try ChildSAStore(path: path)
        XCTAssertEqual(try reopened.loadAll(), [childSA])
    }
}
