// Persistent bindings, including a writer killed with SIGKILL.

import Foundation
import TaglineCore
import TaglineStore
import XCTest

final class BindingStoreTests: XCTestCase {
    var directory = ""

    override func setUp() { directory = makeTemporaryDirectory() }
    override func tearDown() { removeDirectory(directory) }

    private func binding(_ prefix: String, _ sgt: UInt16, _ source: BindingSource) -> SGTBinding {
        SGTBinding(prefix: IPPrefix(prefix)!, sgt: SGT(sgt)!, source: source)
    }

    func testAddDeleteList() throws {
        let store = try BindingStore(path: directory + "/bindings.db")
        try store.add(binding("192.0.2.0/24", 10, .config))
        try store.add(binding("192.0.2.0/24", 20, .api))
        try store.add(binding("2001:db8::/32", 30, .api))
        try store.add(binding("192.0.2.0/24", 11, .config))

        XCTAssertEqual(try store.list(source: .config), [binding("192.0.2.0/24", 11, .config)])
        XCTAssertEqual(try store.loadAll().count, 3)
        XCTAssertTrue(try store.delete(prefix: IPPrefix("192.0.2.0/24")!, source: .api))
        XCTAssertFalse(try store.delete(prefix: IPPrefix("192.0.2.0/24")!, source: .api))
        XCTAssertEqual(
            Set(try store.loadAll()),
            [binding("192.0.2.0/24", 11, .config), binding("2001:db8::/32", 30, .api)])

        try store.replaceAll(source: .config, with: [binding("198.51.100.0/24", 5, .config)])
        XCTAssertEqual(
            Set(try store.loadAll()),
            [binding("198.51.100.0/24", 5, .config), binding("2001:db8::/32", 30, .api)])
    }

    func testBatchInOneTransaction() throws {
        let path = directory + "/bindings.db"
        let store = try BindingStore(path: path)
        try store.add(binding("192.0.2.0/24", 10, .api))
        let outcomes = try store.apply([
            (IPPrefix("198.51.100.0/24")!, .api, SGT(20)),
            (IPPrefix("192.0.2.0/24")!, .api, nil),
            (IPPrefix("203.0.113.0/24")!, .api, nil),
            (IPPrefix("198.51.100.0/24")!, .api, SGT(21)),
        ])
        XCTAssertEqual(outcomes, [true, true, false, true])
        // A second connection reads the committed batch, as a restarted service would.
        XCTAssertEqual(
            try BindingStore(path: path).loadAll(), [binding("198.51.100.0/24", 21, .api)])
    }

    func testReopenWithoutClosingSeesCommits() throws {
        let path = directory + "/bindings.db"
        let writer = try BindingStore(path: path)
        try writer.add(binding("203.0.113.0/24", 77, .api))
        // The writer is never closed, as after a crash; a new connection reads the WAL.
        let reader = try BindingStore(path: path)
        XCTAssertEqual(try reader.loadAll(), [binding("203.0.113.0/24", 77, .api)])
        withExtendedLifetime(writer) {}
    }

    func testInvalidRowIsReported() throws {
        let store = try BindingStore(path: directory + "/bindings.db")
        try store.database.run("INSERT INTO sgt_binding VALUES ('not-a-prefix', 'API', 5)")
        XCTAssertThrowsError(try store.loadAll()) {
            XCTAssertEqual(
                $0 as? StoreError,
                .invalidRow(
                    table: "sgt_binding", key: "not-a-prefix",
                    reason: "prefix is not an IP prefix"))
        }
    }

    func testSurvivesWriterKilledMidStream() throws {
        let path = directory + "/killed.db"
        _ = try BindingStore(path: path)
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)

        let child = fork()
        if child == 0 {
            // Child: add bindings forever, acknowledging each one after its commit.
            close(fds[0])
            guard let store = try? BindingStore(path: path) else { _exit(2) }
            var index: UInt32 = 0
            while true {
                let address = IPAddress.v4(0xC633_6400 | (index & 0xFF))  // 198.51.100.x
                let prefix = IPPrefix(host: address)
                let tag = SGT(UInt16(1 + index % 1000))!
                guard (try? store.add(SGTBinding(prefix: prefix, sgt: tag, source: .api))) != nil
                else { _exit(3) }
                var acknowledged = index
                guard write(fds[1], &acknowledged, 4) == 4 else { _exit(4) }
                index = (index + 1) % 256
            }
        }
        close(fds[1])
        XCTAssertGreaterThan(child, 0)

        // Parent: wait for 100 acknowledgements, then kill the writer mid-stream.
        var acknowledged: [UInt32] = []
        var value: UInt32 = 0
        while acknowledged.count < 100, read(fds[0], &value, 4) == 4 {
            acknowledged.append(value)
        }
        kill(child, SIGKILL)
        var status: Int32 = 0
        waitpid(child, &status, 0)
        close(fds[0])
        XCTAssertEqual(acknowledged.count, 100)

        let reopened = try BindingStore(path: path)
        XCTAssertEqual(
            try reopened.database.query("PRAGMA integrity_check").first?.first,
            .text("ok"))
        let stored = Set(try reopened.loadAll().map(\.prefix))
        for index in acknowledged {
            let prefix = IPPrefix(host: .v4(0xC633_6400 | index))
            XCTAssertTrue(stored.contains(prefix), "acknowledged \(prefix) is missing")
        }
    }
}
