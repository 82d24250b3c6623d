// A flood of IKE_SA_INIT requests with random SPIs and a valid P-256 KE:
// half-open SAs are capped, expire, never reach persistent storage, and are
// cleared with one log line. Also the results of `clear` for unknown tunnels.
//
// Lab: A (198.51.100.1) initiates, B (198.51.100.2) responds.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class HalfOpenLimitTests: XCTestCase {
    private func lab() -> Lab {
        Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
    }

    func testHalfOpenSAsAreCapped() throws {
        // 25 requests at a limit of 10: 10 responses, 15 drops, and only the 10
        // requests that get a response reach the key exchange (one debug line each).
        let lab = lab()
        lab.b.engine.maximumHalfOpenSAs = 10
        for request in try Lab.floodRequests(25) {
            lab.b.engine.receive(request)
        }
        XCTAssertEqual(lab.b.outbox.count, 10)
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 10)
        XCTAssertEqual(lab.b.engine.dropCounters["half-open limit reached"], 15)
        XCTAssertEqual(
            lab.b.debugLines.filter { $0.contains("Received SA_INIT request") }.count, 10)
        XCTAssertEqual(
            lab.b.logLines.filter { $0.message.contains("half open") }.count, 5)
        XCTAssertEqual(lab.b.engine.ikeSAStatuses().map(\.tunnelID), Array(1...10))
    }

    func testRetransmittedInitIsAnsweredAtLimit() throws {
        let lab = lab()
        lab.b.engine.maximumHalfOpenSAs = 3
        let requests = try Lab.floodRequests(3)
        for request in requests {
            lab.b.engine.receive(request)
        }
        let first = try XCTUnwrap(lab.b.outbox.first)
        lab.b.engine.receive(requests[0])
        XCTAssertEqual(lab.b.outbox.count, 4)
        XCTAssertEqual(lab.b.outbox.last?.bytes, first.bytes)
        XCTAssertEqual(lab.b.engine.retransmittedResponses, 1)
        XCTAssertNil(lab.b.engine.dropCounters["half-open limit reached"])
    }

    func testPeerGetsThroughOnceFloodExpires() throws {
        // B is full when A initiates, so A's IKE_SA_INIT (at 0, 1, 3, 7 and 15 s) is
        // dropped. The flood expires at 30 s; A gives up at 31 s, backs off for 10 s
        // and then gets through.
        let lab = lab()
        lab.b.engine.maximumHalfOpenSAs = 10
        for request in try Lab.floodRequests(10) {
            lab.b.engine.receive(request)
        }
        lab.b.outbox.removeAll()
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.b.engine.dropCounters["half-open limit reached"], 1)

        for _ in 0..<30 { lab.advance(1) }
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 0)
        XCTAssertTrue(lab.a.ready.isEmpty)
        for _ in 0..<11 { lab.advance(1) }
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertEqual(lab.b.engine.dropCounters["half-open limit reached"], 5)
    }

    func testExpiryLogIsRateLimited() throws {
        let lab = lab()
        for request in try Lab.floodRequests(20) {
            lab.b.engine.receive(request)
        }
        lab.now += 30
        lab.b.engine.handleTimers()
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 0)
        XCTAssertEqual(lab.b.logLines.filter { $0.message.contains("expired") }.count, 5)
        lab.now += 60
        lab.b.engine.handleTimers()
        XCTAssertEqual(
            lab.b.logLines.last?.message,
            "half-open timeout: 15 more in the last 60 s, not logged one by one")
    }

    func testOnlyEstablishedSAsArePersisted() throws {
        let lab = lab()
        for request in try Lab.floodRequests(5) {
            lab.b.engine.receive(request)
        }
        lab.b.outbox.removeAll()
        let halfOpen = lab.b.engine.takeStateChanges()
        XCTAssertTrue(halfOpen.isEmpty, "\(halfOpen.removed)")

        // A -> B IKE_SA_INIT and IKE_AUTH: B's new SA is written once.
        lab.a.engine.start()
        lab.run()
        let established = lab.b.engine.takeStateChanges()
        XCTAssertEqual(established.updated.map(\.phase), [.established])
        XCTAssertTrue(established.removed.isEmpty)
        XCTAssertTrue(lab.b.engine.takeStateChanges().isEmpty)

        // Half-open SAs that expire are reported as removed, which storage skips.
        lab.now += 30
        lab.b.engine.handleTimers()
        XCTAssertEqual(lab.b.engine.takeStateChanges().removed.count, 5)

        // A -> B INFORMATIONAL request 2 SK{D(IKE)}: B's SA is removed from storage.
        let spi = try XCTUnwrap(established.updated.first).localSPI
        lab.a.engine.clear(tunnelID: nil)
        lab.run()
        let deleted = lab.b.engine.takeStateChanges()
        XCTAssertTrue(deleted.updated.isEmpty)
        XCTAssertEqual(deleted.removed, [spi])
    }

    func testFailedSaveIsReturned() throws {
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        let changes = lab.b.engine.takeStateChanges()
        XCTAssertEqual(changes.updated.count, 1)
        lab.b.engine.returnStateChanges(changes)
        XCTAssertEqual(
            lab.b.engine.takeStateChanges().updated.map(\.localSPI),
            changes.updated.map(\.localSPI))
    }

    func testRestoredSAsAreNotRewritten() throws {
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        let restarted = Gateway(
            name: "B", address: "198.51.100.2", config: LabConfig.text(gateway: "B"),
            clock: { [unowned lab] in lab.now }, seed: 3, firstSPI: 0xC000_0001)
        restarted.engine.restore(lab.b.engine.exportStates())
        XCTAssertEqual(restarted.engine.establishedSACount, 1)
        XCTAssertTrue(restarted.engine.takeStateChanges().isEmpty)
    }

    func testClearUnknownTunnelClearsNothing() throws {
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        let tunnel = try XCTUnwrap(lab.a.ready.first).tunnelID
        XCTAssertEqual(lab.a.engine.clear(tunnelID: 99999), 0)
        XCTAssertEqual(lab.a.engine.clear(tunnelID: -1), 0)
        XCTAssertTrue(lab.a.outbox.isEmpty)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.a.engine.clear(tunnelID: tunnel), 1)
    }

    func testClearLogsOneLineForNegotiatingSAs() throws {
        // One established SA and 20 half-open ones: two notice lines in all.
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        for request in try Lab.floodRequests(20) {
            lab.b.engine.receive(request)
        }
        XCTAssertEqual(lab.b.engine.establishedSACount, 1)
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 20)
        let before = lab.b.logLines.count
        XCTAssertEqual(lab.b.engine.clear(tunnelID: nil), 21)
        let cleared = lab.b.logLines[before...].filter {
            $0.message.contains("cleared by operator")
        }
        XCTAssertEqual(cleared.count, 2, "\(cleared)")
        XCTAssertEqual(cleared.last?.message, "20 IKE SAs still negotiating cleared by operator")
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 0)
    }
}
