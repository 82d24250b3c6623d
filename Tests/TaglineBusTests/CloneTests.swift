// The clone pattern between an owner and its consumers, including an owner
// restarted with a new epoch and a consumer restarted while updates flow.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class CloneTests: XCTestCase {
    var runDirectory = ""
    let loop = EventLoop(handlesSignals: false)

    override func setUp() {
        runDirectory = makeRunDirectory()
    }

    override func tearDown() {
        removeDirectory(runDirectory)
    }

    private func makeOwner(items: [String: Int] = [:]) throws -> (ServiceBus, CloneServer<Int>) {
        let bus = try ServiceBus(
            service: .bindingStore, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("cts-binding-store"))
        let server: CloneServer<Int> = bus.cloneServer(
            updateType: "test.update", snapshotType: "test.snapshot", initialItems: items)
        return (bus, server)
    }

    private final class Consumer {
        let bus: ServiceBus
        var clone: CloneClient<Int>!
        var snapshots = 0
        var updates: [String] = []
        /// The table rebuilt only from the callbacks, as a dataplane would.
        var mirror: [String: Int] = [:]

        init(runDirectory: String, loop: EventLoop, service: ServiceName = .dataplane) throws {
            bus = try ServiceBus(
                service: service, runDirectory: runDirectory, loop: loop,
                logger: quietLogger(service.rawValue))
            clone = bus.cloneClient(
                from: .bindingStore, updateType: "test.update", snapshotType: "test.snapshot",
                onSnapshot: { [unowned self] (items: [String: Int]) in
                    self.snapshots += 1
                    self.mirror = items
                },
                onUpdate: { [unowned self] key, value in
                    self.updates.append(key)
                    self.mirror[key] = value
                })
        }
    }

    func testConsumerGetsSnapshotThenUpdates() throws {
        let (owner, server) = try makeOwner(items: ["a": 1, "b": 2])
        defer { owner.shutdown() }
        let consumer = try Consumer(runDirectory: runDirectory, loop: loop)
        defer { consumer.bus.shutdown() }

        XCTAssertTrue(spin(loop) { consumer.clone.isSynchronized })
        XCTAssertEqual(consumer.clone.items, ["a": 1, "b": 2])
        XCTAssertEqual(consumer.clone.epoch, server.epoch)

        server.set("c", 3)
        server.set("a", 10)
        server.remove("b")
        server.remove("missing")
        XCTAssertEqual(server.sequence, 3)
        XCTAssertTrue(spin(loop) { consumer.clone.sequence == 3 })
        XCTAssertEqual(consumer.clone.items, ["a": 10, "c": 3])
        XCTAssertEqual(consumer.mirror, ["a": 10, "c": 3])
        XCTAssertTrue(consumer.clone.isSynchronized)
    }

    func testOwnerRestartWithNewEpochResyncs() throws {
        var (owner, server) = try makeOwner(items: ["a": 1])
        let consumer = try Consumer(runDirectory: runDirectory, loop: loop)
        defer { consumer.bus.shutdown() }
        XCTAssertTrue(spin(loop) { consumer.clone.isSynchronized })
        let firstEpoch = server.epoch

        // The owner dies and comes back with other items and sequence 0.
        owner.shutdown()
        spin(loop, timeout: 0.3) { false }
        XCTAssertEqual(
            consumer.clone.items, ["a": 1], "items stay readable while the owner is down")
        (owner, server) = try makeOwner(items: ["z": 26])
        defer { owner.shutdown() }
        XCTAssertNotEqual(server.epoch, firstEpoch)

        XCTAssertTrue(spin(loop) { consumer.clone.epoch == server.epoch })
        XCTAssertTrue(consumer.clone.isSynchronized)
        XCTAssertEqual(consumer.clone.items, ["z": 26])
        XCTAssertEqual(consumer.mirror, ["z": 26])
        XCTAssertGreaterThanOrEqual(consumer.snapshots, 2)

        server.set("y", 25)
        XCTAssertTrue(spin(loop) { consumer.clone.items["y"] == 25 })
    }

    func testConsumerRestartMidStreamCatchesUp() throws {
        let (owner, server) = try makeOwner()
        defer { owner.shutdown() }
        var consumer: Consumer? = try Consumer(runDirectory: runDirectory, loop: loop)
        XCTAssertTrue(spin(loop) { consumer!.clone.isSynchronized })

        // Updates keep flowing while the consumer is replaced.
        var next = 0
        func churn() {
            next += 1
            server.set("k\(next % 7)", next)
            if next % 5 == 0 { server.remove("k\((next / 5) % 7)") }
        }
        for _ in 0..<20 { churn() }
        spin(loop, timeout: 0.1) { false }
        consumer!.bus.shutdown()
        consumer = nil
        for _ in 0..<20 { churn() }
        let restarted = try Consumer(runDirectory: runDirectory, loop: loop)
        defer { restarted.bus.shutdown() }
        var turns = 0
        spin(loop, timeout: 0.5) {
            turns += 1
            if turns % 3 == 0 { churn() }
            return false
        }

        // Quiet again: the restarted consumer converges on the owner's table.
        XCTAssertTrue(
            spin(loop) {
                restarted.clone.isSynchronized && restarted.clone.sequence == server.sequence
            })
        XCTAssertEqual(restarted.clone.items, server.items)
        XCTAssertEqual(restarted.mirror, server.items)
    }

    func testSeveralConsumersStayInStep() throws {
        let (owner, server) = try makeOwner(items: ["a": 1])
        defer { owner.shutdown() }
        var consumers = try [ServiceName.dataplane, .saManager].map {
            try Consumer(runDirectory: runDirectory, loop: loop, service: $0)
        }
        defer { for consumer in consumers { consumer.bus.shutdown() } }
        XCTAssertTrue(spin(loop) { consumers.allSatisfy { $0.clone.isSynchronized } })

        // Single changes and a batch, then a third consumer that joins late.
        for index in 0..<50 { server.set("k\(index % 9)", index) }
        server.apply([
            CloneChange(key: "a", item: nil), CloneChange(key: "b", item: 2),
            CloneChange(key: "k0", item: 100),
        ])
        consumers.append(
            try Consumer(runDirectory: runDirectory, loop: loop, service: .ikeNegotiator))

        XCTAssertTrue(
            spin(loop) {
                consumers.allSatisfy {
                    $0.clone.isSynchronized && $0.clone.sequence == server.sequence
                }
            })
        for consumer in consumers {
            XCTAssertEqual(consumer.clone.items, server.items)
            XCTAssertEqual(consumer.mirror, server.items)
        }
    }

    func testMissedUpdateDetectedByHeartbeat() throws {
        let (owner, server) = try makeOwner(items: ["a": 1])
        defer { owner.shutdown() }
        let consumer = try Consumer(runDirectory: runDirectory, loop: loop)
        defer { consumer.bus.shutdown() }
        XCTAssertTrue(spin(loop) { consumer.clone.isSynchronized })
        let snapshotsBefore = consumer.clone.snapshotCount

        // The owner changes its table but the update never reaches the consumer.
        server.setWithoutPublishing("b", 2)
        XCTAssertTrue(
            spin(loop, timeout: 4) {
                consumer.clone.snapshotCount > snapshotsBefore && consumer.clone.items["b"] == 2
            })
        XCTAssertEqual(consumer.clone.sequence, server.sequence)
    }
}
