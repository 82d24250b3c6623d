// The trace mirror: silent without subscribers, redacted with one.

import CZeroMQ
import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class TraceTests: XCTestCase {
    func testMirrorRedactsKeysAndFollowsTraceID() throws {
        let runDirectory = makeRunDirectory()
        defer { removeDirectory(runDirectory) }
        let loop = EventLoop(handlesSignals: false)
        let bus = try ServiceBus(
            service: .saManager, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("sa-manager"))
        defer { bus.shutdown() }
        bus.handle("test.install") { (request: [String: String], _) in
            ["installed": request["spi"] ?? "", "integrityKey": "0011"]
        }
        XCTAssertFalse(bus.tracer.isActive)

        let watcher = try ZMQSocket(type: ZMQ_SUB)
        try watcher.setOption(ZMQ_SUBSCRIBE, bytes: [])
        try watcher.connect(bus.paths.trace(.saManager))
        XCTAssertTrue(spin(loop) { bus.tracer.isActive })

        let caller = try ServiceBus(
            service: .ikeNegotiator, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("ike-negotiator"))
        defer { caller.shutdown() }
        var done = false
        let body = ["spi": "4096", "encryptionKey": "deadbeef", "PSK": "cisco123"]
        caller.client(.saManager).send(
            "test.install", body, as: [String: String].self,
            timeout: 2, loop: loop
        ) { _ in done = true }
        XCTAssertTrue(spin(loop) { done })

        var records: [TraceRecord] = []
        while try watcher.waitReadable(timeout: 0.5), let frames = try watcher.receive() {
            records.append(try TraceRecord(frames: frames, service: "sa-manager"))
            if records.count == 2 { break }
        }
        XCTAssertEqual(records.count, 2)
        guard records.count == 2 else { return }

        // recv: the request as sa-manager received it.
        XCTAssertEqual(records[0].direction, .receive)
        XCTAssertEqual(records[0].sender, "ike-negotiator")
        XCTAssertEqual(records[0].receiver, "sa-manager")
        let requestText = String(decoding: records[0].envelope.body, as: UTF8.self)
        XCTAssertTrue(requestText.contains("\"spi\":\"4096\""), requestText)
        XCTAssertFalse(requestText.contains("deadbeef"), requestText)
        XCTAssertFalse(requestText.contains("cisco123"), requestText)
        XCTAssertTrue(requestText.contains("\"encryptionKey\":\"<redacted>\""), requestText)

        // send: the reply, in the same trace, naming the request as parent.
        XCTAssertEqual(records[1].direction, .send)
        XCTAssertEqual(records[1].receiver, "ike-negotiator")
        XCTAssertEqual(records[1].envelope.type, "test.install.reply")
        XCTAssertEqual(records[1].envelope.traceID, records[0].envelope.traceID)
        XCTAssertEqual(records[1].envelope.parentID, records[0].envelope.messageID)
        let replyText = String(decoding: records[1].envelope.body, as: UTF8.self)
        XCTAssertFalse(replyText.contains("0011"), replyText)

        // The watcher leaves: the mirror goes quiet.
        watcher.close()
        XCTAssertTrue(spin(loop) { !bus.tracer.isActive })
    }

    func testRequestFromHandlerInheritsTraceID() throws {
        let runDirectory = makeRunDirectory()
        defer { removeDirectory(runDirectory) }
        let loop = EventLoop(handlesSignals: false)
        let manager = try ServiceBus(
            service: .saManager, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("sa-manager"))
        let negotiator = try ServiceBus(
            service: .ikeNegotiator, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("ike-negotiator"))
        defer {
            manager.shutdown()
            negotiator.shutdown()
        }
        var innerTrace = ""
        var innerParent = ""
        manager.handle("test.inner") { (_: EmptyRequest, envelope: Envelope) in
            innerTrace = envelope.traceID
            innerParent = envelope.parentID
            return EmptyReply()
        }

        // ike-negotiator handles test.outer by asking sa-manager first.
        var outer: Envelope?
        negotiator.handleDeferred("test.outer") { (_: EmptyRequest, envelope, responder) in
            outer = envelope
            negotiator.client(.saManager).send(
                "test.inner", EmptyRequest(), as: EmptyReply.self, timeout: 2, loop: loop
            ) { result in
                switch result {
                case .success(let reply): responder.reply(reply)
                case .failure(let error): responder.fail(error)
                }
            }
        }

        let cli = try BusClient(
            service: .ikeNegotiator, runDirectory: runDirectory,
            sender: "tagline")
        let background = BackgroundLoop(loop)
        _ = try cli.request(
            "test.outer", EmptyRequest(), as: EmptyReply.self,
            traceID: "00000000000000aa")
        background.stop()

        XCTAssertEqual(outer?.traceID, "00000000000000aa")
        XCTAssertEqual(innerTrace, "00000000000000aa")
        XCTAssertEqual(innerParent, outer?.messageID)
    }
}
