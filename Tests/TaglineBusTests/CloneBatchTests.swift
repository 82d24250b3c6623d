// Clone batches: many changes in one event, applied by the consumer as the
// same changes sent one by one, interleaved with single updates.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class CloneBatchTests: XCTestCase {
    var runDirectory = ""
    let loop = EventLoop(handlesSignals: false)

    override func setUp() { runDirectory = makeRunDirectory() }
    override func tearDown() { removeDirectory(runDirectory) }

    func testBatchAppliedInOrder() throws {
        let owner = try ServiceBus(
            service: .bindingStore, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("cts-binding-store"))
        defer { owner.shutdown() }
        let server: CloneServer<Int> = owner.cloneServer(
            updateType: "test.update", snapshotType: "test.snapshot", initialItems: ["a": 1])
        let consumerBus = try ServiceBus(
            service: .dataplane, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("dataplane-tagger"))
        defer { consumerBus.shutdown() }
        var updates: [String] = []
        var mirror: [String: Int] = [:]
        let clone: CloneClient<Int> = consumerBus.cloneClient(
            from: .bindingStore, updateType: "test.update", snapshotType: "test.snapshot",
            onSnapshot: { mirror = $0 },
            onUpdate: { key, value in
                updates.append(key)
                mirror[key] = value
            })
        XCTAssertTrue(spin(loop) { clone.isSynchronized })

        server.set("b", 2)
        server.apply([
            CloneChange(key: "c", item: 3), CloneChange(key: "missing", item: nil),
            CloneChange(key: "a", item: nil), CloneChange(key: "c", item: 30),
        ])
        server.set("d", 4)
        // Three changes of the batch count: removing an absent key is skipped.
        XCTAssertEqual(server.sequence, 5)
        XCTAssertTrue(spin(loop) { clone.sequence == 5 })
        XCTAssertEqual(updates, ["b", "c", "a", "c", "d"])
        XCTAssertEqual(mirror, ["b": 2, "c": 30, "d": 4])
        XCTAssertEqual(clone.items, server.items)
        XCTAssertEqual(clone.snapshotCount, 1, "no gap forced a second snapshot")
    }
}
