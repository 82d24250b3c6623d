// cts-binding-store as a real process under malformed cts.binding.batch
// requests sent as raw JSON: too many changes, invalid prefixes and SGTs, and
// valid changes mixed with one invalid change. Each request must fail whole,
// store nothing, and leave the service serving requests.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class BindingBatchRejectTests: XCTestCase {
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

    /// A binding change with fields as raw JSON values, so that invalid ones can be sent.
    private struct RawChange: Encodable {
        var prefix: String
        var sgt: Int?
        var source = "API"
    }

    private struct RawBatch: Encodable {
        var changes: [RawChange]
    }

    private static func valid(_ index: Int) -> RawChange {
        RawChange(prefix: "2001:db8:100::\(String(index, radix: 16))/128", sgt: 20)
    }

    func testMalformedBatchesRejected() throws {
        let store = try ServiceProcess(
            .bindingStore,
            arguments: [
                "--config", stateDirectory + "/gateway.cfg", "--state-dir",
                stateDirectory + "/state",
            ],
            runDirectory: runDirectory)
        defer { store.stop(SIGTERM) }
        let client = try BusClient(
            service: .bindingStore, runDirectory: runDirectory, sender: "test")

        let cases: [(name: String, changes: [RawChange])] = [
            ("10,001 changes", (0..<10_001).map(Self.valid)),
            ("host bits set", [Self.valid(1), RawChange(prefix: "192.0.2.1/24", sgt: 20)]),
            ("prefix length 33", [Self.valid(2), RawChange(prefix: "192.0.2.0/33", sgt: 20)]),
            ("not an address", [Self.valid(3), RawChange(prefix: "192.0.2/24", sgt: 20)]),
            ("SGT 0", [Self.valid(4), RawChange(prefix: "198.51.100.0/24", sgt: 0)]),
            ("SGT 65535", [Self.valid(5), RawChange(prefix: "198.51.100.0/24", sgt: 65535)]),
            ("SGT 70000", [Self.valid(6), RawChange(prefix: "198.51.100.0/24", sgt: 70000)]),
            ("SGT -1", [Self.valid(7), RawChange(prefix: "198.51.100.0/24", sgt: -1)]),
            (
                "unknown source",
                [Self.valid(9), RawChange(prefix: "198.51.100.0/24", sgt: 5, source: "X")]
            ),
        ]
        for entry in cases {
            XCTAssertThrowsError(
                try client.request(
                    MessageType.bindingBatch, RawBatch(changes: entry.changes),
                    as: BindingBatchReply.self),
                entry.name)
        }

        // Nothing stored, and the service still applies a valid batch.
        let list = try client.request(
            MessageType.bindingList, EmptyRequest(), as: BindingListReply.self)
        XCTAssertEqual(list.bindings.filter { $0.source == .api }.count, 0)
        let reply = try client.request(
            MessageType.bindingBatch, RawBatch(changes: [Self.valid(1)]),
            as: BindingBatchReply.self)
        XCTAssertEqual(reply.applied, 1)
    }
}
