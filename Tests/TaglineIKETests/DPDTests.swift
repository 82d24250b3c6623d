// Dead peer detection from the profile's `dpd INTERVAL RETRY mode`: empty
// INFORMATIONAL requests, liveness from any authenticated message or inbound
// ESP, retransmission every RETRY seconds, and the dead peer's SAs removed.
//
// Lab: A (198.51.100.1) initiates, B (198.51.100.2) responds.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class DPDTests: XCTestCase {
    /// Establishes an SA with DPD configured as `dpdA` on A and `dpdB` on B.
    private func establishedLab(dpdA: String?, dpdB: String? = nil) -> Lab {
        var optionsA = LabConfig.Options()
        optionsA.dpd = dpdA
        var optionsB = LabConfig.Options()
        optionsB.dpd = dpdB
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", optionsA),
            configB: LabConfig.text(gateway: "B", optionsB))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        return lab
    }

    /// Moves the clock on one second at a time, running the timers each second.
    private func advance(_ lab: Lab, seconds: Int) {
        for _ in 0..<seconds { lab.advance(1) }
    }

    func testPeriodicCheckEveryInterval() {
        let lab = establishedLab(dpdA: "10 2 periodic")
        let start = lab.now
        XCTAssertEqual(lab.a.ready.first?.dpdInterval, 10)
        XCTAssertEqual(lab.a.ready.first?.dpdRetry, 2)
        XCTAssertNil(lab.b.ready.first?.dpdInterval)
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), start + 10)
        advance(lab, seconds: 9)
        XCTAssertEqual(lab.transcript.count, 4, "no check before INTERVAL")

        // A->B INFORMATIONAL request 2 SK{}; B->A response 2 SK{}.
        lab.advance(1)
        XCTAssertEqual(
            lab.transcript.suffix(2), ["A INFORMATIONAL request 2", "B INFORMATIONAL response 2"])
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), start + 20)

        // A->B INFORMATIONAL request 3 SK{}; B->A response 3 SK{}, 10 s later.
        advance(lab, seconds: 10)
        XCTAssertEqual(
            lab.transcript.suffix(2), ["A INFORMATIONAL request 3", "B INFORMATIONAL response 3"])
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertTrue(
            lab.a.debugLines.contains { $0.contains("Sending DPD request 2") }, "debug line")
    }

    func testPeerMessageCountsAsLiveness() throws {
        let lab = establishedLab(dpdA: "10 2 periodic")
        let start = lab.now
        lab.now += 6
        // B->A INFORMATIONAL request 0 SK{D(ESP)}; A->B response 0 SK{D(ESP)};
        // A->B CREATE_CHILD_SA request 2; B->A response 2.
        lab.b.engine.clearChildSAs(peer: nil)
        lab.run()
        XCTAssertEqual(lab.transcript.suffix(4).first, "B INFORMATIONAL request 0")
        // Heard from B at +6, so the next check is due at +16, not +10.
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), start + 16)
        let before = lab.transcript.count
        advance(lab, seconds: 9)
        XCTAssertEqual(lab.transcript.count, before)
        lab.advance(1)
        XCTAssertEqual(lab.transcript.last, "B INFORMATIONAL response 3")
    }

    func testDeadPeerRemovedAndReinitiated() throws {
        let lab = establishedLab(dpdA: "10 2 periodic")
        let start = lab.now
        let oldChild = try XCTUnwrap(lab.a.installed.first)
        var sentAt: [Double] = []
        var lose = true
        lab.network = { datagram in
            if lab.a.address == datagram.local.address { sentAt.append(lab.now - start) }
            return lose ? nil : datagram
        }
        advance(lab, seconds: 19)
        // The check at +10, retransmitted every RETRY (2) s, 5 transmissions in all.
        XCTAssertEqual(sentAt, [10, 12, 14, 16, 18])
        XCTAssertEqual(lab.a.ready.count, 1, "not dead before the last retransmission times out")

        lab.advance(1)
        XCTAssertEqual(lab.a.deleted, [oldChild.inboundSPI])
        XCTAssertTrue(
            lab.a.problems.contains { $0.contains("peer is dead, no response to 5 DPD requests") },
            "\(lab.a.problems)")
        XCTAssertEqual(lab.a.changes.map(\.up), [true, false])
        // The crypto map entry initiates again at once.
        XCTAssertEqual(sentAt.last, 20)
        XCTAssertEqual(lab.transcript.last, "A IKE_SA_INIT request 0")

        lose = false
        lab.advance(1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.a.installed.count, 2)
    }

    func testResponderOnlyClearsDeadPeer() throws {
        let lab = establishedLab(dpdA: nil, dpdB: "10 2 periodic")
        lab.network = { _ in nil }
        advance(lab, seconds: 20)
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
        XCTAssertEqual(lab.b.deleted, lab.b.installed.map(\.inboundSPI))
        XCTAssertEqual(lab.transcript.suffix(1), ["B INFORMATIONAL request 0"])
        XCTAssertNil(lab.b.engine.nextTimerDeadline().flatMap { $0 < lab.now + 60 ? $0 : nil })
        XCTAssertEqual(lab.a.ready.count, 1, "A has no DPD and keeps its SA")
    }

    func testIKERekeyKeepsPeerAlive() throws {
        let lab = establishedLab(dpdA: "10 2 periodic", dpdB: "10 2 periodic")
        let tunnel = try XCTUnwrap(lab.a.ready.first).tunnelID
        // A->B CREATE_CHILD_SA request: SA(IKE), Ni, KEi; B->A response: SA, Nr, KEr;
        // A->B INFORMATIONAL request: D(old IKE SA); B->A response.
        XCTAssertTrue(lab.a.engine.rekeyIKESA(tunnelID: tunnel))
        lab.run()
        advance(lab, seconds: 60)
        for gateway in [lab.a!, lab.b!] {
            XCTAssertEqual(gateway.ready.count, 1, gateway.name)
            XCTAssertFalse(
                gateway.logLines.contains { $0.message.contains("peer is dead") }, gateway.name)
        }
    }

    func testOnDemandNeedsOutboundTraffic() throws {
        let lab = establishedLab(dpdA: "10 2 on-demand")
        let spi = try XCTUnwrap(lab.a.installed.first).inboundSPI
        advance(lab, seconds: 30)
        XCTAssertEqual(lab.transcript.count, 4, "no traffic, no check")

        // Traffic both ways: the peer is alive, nothing to check.
        lab.a.engine.noteChildTraffic(received: [spi], sent: [spi])
        advance(lab, seconds: 15)
        XCTAssertEqual(lab.transcript.count, 4)

        // Outbound only, 10 s after B was last heard from: check at once.
        lab.a.engine.noteChildTraffic(received: [], sent: [spi])
        lab.advance(0)
        // A->B INFORMATIONAL request 2 SK{}; B->A response 2 SK{}.
        XCTAssertEqual(
            lab.transcript.suffix(2), ["A INFORMATIONAL request 2", "B INFORMATIONAL response 2"])
        // The check got its response: no further one until more outbound traffic.
        advance(lab, seconds: 30)
        XCTAssertEqual(lab.transcript.count, 6)
        // Only the IKE SA's lifetime, hours away, is left on the timer.
        XCTAssertNil(lab.a.engine.nextTimerDeadline().flatMap { $0 < lab.now + 3600 ? $0 : nil })
    }

    func testOnDemandWaitsForInterval() throws {
        let lab = establishedLab(dpdA: "10 2 on-demand")
        let spi = try XCTUnwrap(lab.a.installed.first).inboundSPI
        let start = lab.now
        lab.now += 3
        lab.a.engine.noteChildTraffic(received: [], sent: [spi])
        // Sent at +3, B last heard from at +0: due at +10.
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), start + 10)
        lab.a.engine.noteChildTraffic(received: [0x1234_5678], sent: [])
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), start + 10, "unknown SPI is ignored")
    }

    func testForgedDPDResponseKeepsCheck() throws {
        let lab = establishedLab(dpdA: "10 2 periodic")
        var held: IKEDatagram?
        lab.network = { datagram in
            guard held == nil, lab.b.address == datagram.local.address else { return datagram }
            held = datagram
            return nil
        }
        advance(lab, seconds: 10)
        // A->B INFORMATIONAL request 2; B's response held back and corrupted.
        var forged = try XCTUnwrap(held)
        forged.bytes[forged.bytes.count - 1] ^= 0x01
        lab.a.engine.receive(
            IKEDatagram(local: forged.remote, remote: forged.local, bytes: forged.bytes))
        XCTAssertEqual(lab.a.engine.dropCounters["integrity check failed"], 1)
        let sa = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        XCTAssertEqual(sa.outstanding?.messageID, 2)
        XCTAssertEqual(sa.dpdMessageID, 2)

        // A->B request 2 again after RETRY; B->A the cached response.
        advance(lab, seconds: 2)
        XCTAssertEqual(lab.a.engine.ikeSAs.values.first?.outstanding, nil)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.engine.retransmittedResponses, 1)
    }
}
