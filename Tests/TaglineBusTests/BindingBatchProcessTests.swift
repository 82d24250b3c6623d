// cts-binding-store as a real process under batches of binding changes:
// a rejected change fails its whole batch, a dataplane clone follows every
// batch, and every acknowledged change survives SIGKILL.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class BindingBatchProcessTests: XCTestCase {
    var runDirectory = ""
    var stateDirectory = ""

    override func setUp() {
        runDirectory = makeRunDirectory()
        stateDirectory = makeRunDirectory()
        FileManager.default.createFile(
            atPath: stateDirectory + "/gateway.cfg",
            contents: Data("hostname gw1\ncts role-based sgt-map 192.0.2.0/24 sgt 10\nend\n".utf8))
    }

    override func tearDown() {
        removeDirectory(runDirectory)
        removeDirectory(stateDirectory)
    }

    private func start() throws -> ServiceProcess {
        try ServiceProcess(
            .bindingStore,
            arguments: [
                "--config", stateDirectory + "/gateway.cfg", "--state-dir",
                stateDirectory + "/state",
            ],
            runDirectory: runDirectory)
    }

    private static func change(_ index: Int, sgt: UInt16?) -> BindingChangeRequest {
        BindingChangeRequest(
            prefix: IPPrefix("2001:db8:100::\(String(index, radix: 16))/128")!,
            sgt: sgt.flatMap(SGT.init),
            source: .api)
    }

    func testBatchesSurviveSIGKILL() throws {
        var store = try start()
        let client = try BusClient(
            service: .bindingStore, runDirectory: runDirectory, sender: "test")
        let loop = EventLoop(handlesSignals: false)
        let dataplane = try ServiceBus(
            service: .dataplane, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("dataplane-tagger"))
        defer { dataplane.shutdown() }
        let clone: CloneClient<SGTBinding> = dataplane.cloneClient(
            from: .bindingStore, updateType: MessageType.bindingUpdate,
            snapshotType: MessageType.bindingSnapshot, onSnapshot: { _ in }, onUpdate: { _, _ in })
        XCTAssertTrue(spin(loop) { clone.isSynchronized })

        // 2000 adds, then every fourth deleted, plus one delete of an absent binding.
        for first in stride(from: 0, to: 2000, by: 500) {
            let reply = try client.request(
                MessageType.bindingBatch,
                BindingBatchRequest(
                    changes: (first..<(first + 500)).map { Self.change($0, sgt: 20) }),
                as: BindingBatchReply.self)
            XCTAssertEqual(reply.applied, 500)
        }
        let deletes = stride(from: 0, to: 2000, by: 4).map { Self.change($0, sgt: nil) }
        let reply = try client.request(
            MessageType.bindingBatch,
            BindingBatchRequest(changes: deletes + [Self.change(3000, sgt: nil)]),
            as: BindingBatchReply.self)
        XCTAssertEqual(reply.applied, 500)
        XCTAssertEqual(reply.missing, 1)

        // A CLI change is rejected, and the valid change before it is not stored either.
        XCTAssertThrowsError(
            try client.request(
                MessageType.bindingBatch,
                BindingBatchRequest(changes: [
                    Self.change(4000, sgt: 30),
                    BindingChangeRequest(
                        prefix: IPPrefix("192.0.2.0/24")!, sgt: SGT(5), source: .config),
                ]),
                as: BindingBatchReply.self))

        // The clone carries the configuration's binding and the 1500 API ones.
        XCTAssertTrue(spin(loop) { clone.items.count == 1501 })
        XCTAssertEqual(clone.snapshotCount, 1, "batches arrived without a gap")

        store.stop()
        store = try start()
        defer { store.stop(SIGTERM) }
        let list = try client.request(
            MessageType.bindingList, EmptyRequest(), as: BindingListReply.self)
        let api = list.bindings.filter { $0.source == .api }
        XCTAssertEqual(api.count, 1500)
        XCTAssertFalse(api.contains { $0.prefix == Self.change(0, sgt: nil).prefix })
        XCTAssertTrue(api.contains { $0.prefix == Self.change(1, sgt: nil).prefix })
        XCTAssertFalse(api.contains { $0.prefix == Self.change(4000, sgt: nil).prefix })
    }
}
