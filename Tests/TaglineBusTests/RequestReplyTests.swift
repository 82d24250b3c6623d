// Request and reply between a service and a client over real ipc sockets.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class RequestReplyTests: XCTestCase {
    var runDirectory = ""

    override func setUp() {
        runDirectory = makeRunDirectory()
    }

    override func tearDown() {
        removeDirectory(runDirectory)
    }

    private func makeEchoService(_ loop: EventLoop) throws -> ServiceBus {
        let bus = try ServiceBus(
            service: .saManager, runDirectory: runDirectory, loop: loop,
            logger: quietLogger("sa-manager"))
        bus.handle("test.echo") { (request: EchoRequest, envelope: Envelope) in
            EchoReply(text: request.text, from: envelope.sender)
        }
        bus.handle("test.fail") { (_: EmptyRequest, _) -> EmptyReply in
            throw ErrorReply(message: "no such SA 0x1234")
        }
        return bus
    }

    func testBlockingRequestGetsReply() throws {
        let loop = EventLoop(handlesSignals: false)
        let bus = try makeEchoService(loop)
        let background = BackgroundLoop(loop)
        defer {
            background.stop()
            bus.shutdown()
        }

        let client = try BusClient(
            service: .saManager, runDirectory: runDirectory,
            sender: "tagline")
        let reply = try client.request(
            "test.echo", EchoRequest(text: "hello"),
            as: EchoReply.self)
        XCTAssertEqual(reply, EchoReply(text: "hello", from: "tagline"))

        let ping = try client.request(MessageType.ping, EmptyRequest(), as: PingReply.self)
        XCTAssertEqual(ping.service, "sa-manager")
        XCTAssertEqual(ping.pid, getpid())
    }

    func testThrownErrorBecomesRemoteError() throws {
        let loop = EventLoop(handlesSignals: false)
        let bus = try makeEchoService(loop)
        let background = BackgroundLoop(loop)
        defer {
            background.stop()
            bus.shutdown()
        }
        let client = try BusClient(
            service: .saManager, runDirectory: runDirectory,
            sender: "tagline")

        XCTAssertThrowsError(try client.request("test.fail", EmptyRequest(), as: EmptyReply.self)) {
            guard case BusError.remote(let message) = $0 else {
                return XCTFail("expected a remote error, got \($0)")
            }
            XCTAssertEqual(message, "no such SA 0x1234")
        }
        XCTAssertThrowsError(try client.request("test.nope", EmptyRequest(), as: EmptyReply.self)) {
            guard case BusError.remote(let message) = $0 else {
                return XCTFail("expected a remote error, got \($0)")
            }
            XCTAssertTrue(message.contains("test.nope"), message)
        }
        XCTAssertThrowsError(try client.request("test.echo", EmptyRequest(), as: EchoReply.self)) {
            guard case BusError.remote(let message) = $0 else {
                return XCTFail("expected a remote error, got \($0)")
            }
            XCTAssertTrue(message.contains("EchoRequest"), message)
        }
    }

    func testAsyncSendBetweenServices() throws {
        let loop = EventLoop(handlesSignals: false)
        let server = try makeEchoService(loop)
        let caller = try ServiceBus(
            service: .ikeNegotiator, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("ike-negotiator"))
        defer {
            caller.shutdown()
            server.shutdown()
        }

        var result: Result<EchoReply, BusError>?
        caller.client(.saManager).send(
            "test.echo", EchoRequest(text: "spi"), as: EchoReply.self,
            timeout: 2, loop: loop
        ) { result = $0 }
        XCTAssertTrue(spin(loop) { result != nil })
        XCTAssertEqual(try result?.get(), EchoReply(text: "spi", from: "ike-negotiator"))
        XCTAssertEqual(caller.client(.saManager).pendingCount, 0)
    }

    func testTimeoutThenRecoveryWhenServerStarts() throws {
        let client = try BusClient(
            service: .saManager, runDirectory: runDirectory,
            sender: "tagline")
        let started = Date()
        XCTAssertThrowsError(
            try client.request(
                "test.echo", EchoRequest(text: "lost"), as: EchoReply.self,
                timeout: 0.3)
        ) {
            guard case BusError.timeout(let service, let type) = $0 else {
                return XCTFail("expected a timeout, got \($0)")
            }
            XCTAssertEqual(service, "sa-manager")
            XCTAssertEqual(type, "test.echo")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.5)

        // The server comes up: the next request works and the timed-out one
        // was discarded with the old socket, so the server never runs it.
        let loop = EventLoop(handlesSignals: false)
        let bus = try makeEchoService(loop)
        var seen: [String] = []
        bus.handle("test.echo") { (request: EchoRequest, envelope: Envelope) in
            seen.append(request.text)
            return EchoReply(text: request.text, from: envelope.sender)
        }
        let background = BackgroundLoop(loop)
        let reply = try client.request(
            "test.echo", EchoRequest(text: "fresh"),
            as: EchoReply.self, timeout: 2)
        background.stop()
        bus.shutdown()
        XCTAssertEqual(reply.text, "fresh")
        XCTAssertEqual(seen, ["fresh"])
    }

    func testAsyncTimeoutAgainstDeadServer() throws {
        let loop = EventLoop(handlesSignals: false)
        let caller = try ServiceBus(
            service: .ikeNegotiator, runDirectory: runDirectory,
            loop: loop, logger: quietLogger("ike-negotiator"))
        defer { caller.shutdown() }
        var result: Result<EmptyReply, BusError>?
        caller.client(.saManager).send(
            MessageType.ping, EmptyRequest(), as: EmptyReply.self,
            timeout: 0.2, loop: loop
        ) { result = $0 }
        XCTAssertTrue(spin(loop, timeout: 3) { result != nil })
        guard case .failure(.timeout(let service, _)) = result else {
            return XCTFail("expected a timeout, got \(String(describing: result))")
        }
        XCTAssertEqual(service, "sa-manager")
    }

    func testRequestsDuringHandlerWaitTheirTurn() throws {
        let loop = EventLoop(handlesSignals: false)
        let bus = try makeEchoService(loop)
        var order: [String] = []
        bus.handle("test.slow") { (request: EchoRequest, _) -> EmptyReply in
            order.append("start \(request.text)")
            usleep(50_000)
            order.append("end \(request.text)")
            return EmptyReply()
        }
        let background = BackgroundLoop(loop)

        // Two clients send at once; the second request waits for the first handler.
        let group = DispatchGroup()
        for name in ["a", "b"] {
            group.enter()
            Thread {
                let client = try! BusClient(
                    service: .saManager, runDirectory: self.runDirectory,
                    sender: "tagline")
                _ = try? client.request(
                    "test.slow", EchoRequest(text: name),
                    as: EmptyReply.self)
                group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 5), .success)
        background.stop()
        bus.shutdown()

        XCTAssertEqual(order.count, 4)
        // Each handler finished before the next began.
        XCTAssertTrue(order[0].hasPrefix("start"), "\(order)")
        XCTAssertTrue(order[1].hasPrefix("end"), "\(order)")
        XCTAssertTrue(order[2].hasPrefix("start"), "\(order)")
        XCTAssertTrue(order[3].hasPrefix("end"), "\(order)")
    }
}
