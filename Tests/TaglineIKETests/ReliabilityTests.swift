// Lost and repeated messages, garbage datagrams, Deletes, and both gateways
// initiating at once.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class ReliabilityTests: XCTestCase {
    private func lab(passiveB: Bool = true) -> Lab {
        Lab(
            configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"),
            passiveB: passiveB)
    }

    /// Loses the first datagram for which `matches` holds.
    private func loseOnce(_ lab: Lab, _ matches: @escaping (IKEHeader) -> Bool) {
        var lost = false
        lab.network = { datagram in
            if !lost, let header = try? IKEHeader.decode(datagram.bytes), matches(header) {
                lost = true
                return nil
            }
            return datagram
        }
    }

    func testLostAuthRequestIsRetransmitted() {
        let lab = lab()
        loseOnce(lab) { $0.exchangeType == .ikeAuth && !$0.isResponse }
        lab.a.engine.start()
        lab.run()
        XCTAssertTrue(lab.a.ready.isEmpty)
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), lab.now + 1)

        lab.advance(1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
        XCTAssertEqual(lab.a.engine.retransmittedRequests, 1)
    }

    func testLostAuthResponseIsAnsweredFromCache() {
        // A->B IKE_AUTH request 1; B->A response lost; A->B request 1 again;
        // B->A the cached response, with no second Child SA on B.
        let lab = lab()
        loseOnce(lab) { $0.exchangeType == .ikeAuth && $0.isResponse }
        lab.a.engine.start()
        lab.run()
        lab.advance(1)
        XCTAssertEqual(
            lab.transcript,
            [
                "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0",
                "A IKE_AUTH request 1", "B IKE_AUTH response 1",
                "A IKE_AUTH request 1", "B IKE_AUTH response 1",
            ])
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertEqual(lab.b.engine.retransmittedResponses, 1)
    }

    func testRetransmissionBacksOffThenGivesUp() {
        let lab = lab()
        lab.network = { _ in nil }
        lab.a.engine.start()
        lab.run()
        // Transmissions at 0, 1, 3, 7 and 15 s; the SA is dropped at 31 s.
        var sendTimes: [Double] = [lab.now]
        let start = lab.now
        for _ in 0..<40 {
            let before = lab.transcript.count
            lab.advance(1)
            if lab.transcript.count > before { sendTimes.append(lab.now) }
            if lab.now - start >= 31 { break }
        }
        XCTAssertEqual(sendTimes.map { $0 - start }, [0, 1, 3, 7, 15])
        XCTAssertTrue(lab.a.engine.ikeSAStatuses().isEmpty)
        XCTAssertTrue(lab.a.problems.last?.contains("no response to IKE_SA_INIT") ?? false)
    }

    func testGarbageDoesNotAffectEstablishedSA() throws {
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        let before = try XCTUnwrap(lab.b.ready.first)
        let from = IKEEndpoint(address: IPAddress("198.51.100.1")!, port: 500)
        let to = IKEEndpoint(address: IPAddress("198.51.100.2")!, port: 500)
        let random = SeededRandom(seed: 99)
        let forged = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)

        let inputs: [[UInt8]] = [
            [],  // empty datagram
            [0x01, 0x02, 0x03],  // shorter than the IKE header
            random.bytes(300),  // random bytes
            // Valid header, but Length 0x80000000 (top bit set) does not match the datagram.
            Array(repeating: 0, count: 16) + [0, 0x20, 37, 0x08, 0, 0, 0, 2, 0x80, 0, 0, 0],
        ]
        for bytes in inputs {
            lab.b.engine.receive(IKEDatagram(local: to, remote: from, bytes: bytes))
        }

        // Right SPIs and message ID, corrupted ciphertext: fails the integrity check.
        var request = try IKEMessage(
            header: IKEHeader(
                initiatorSPI: forged.initiatorSPI, responderSPI: forged.responderSPI,
                nextPayload: 0, exchangeType: .informational, isInitiator: true,
                isResponse: false, messageID: 2),
            payloads: [.delete(.ikeSA)]
        ).encodeProtected(with: XCTUnwrap(forged.sendKeys), random: random.bytes)
        request[request.count - 20] ^= 0xFF
        lab.b.engine.receive(IKEDatagram(local: to, remote: from, bytes: request))

        // The same message truncated by one byte: the SK length no longer fits.
        lab.b.engine.receive(IKEDatagram(local: to, remote: from, bytes: request.dropLast()))

        XCTAssertEqual(lab.b.engine.dropCounters["malformed"], 5)
        XCTAssertEqual(lab.b.engine.dropCounters["integrity check failed"], 1)
        XCTAssertTrue(lab.b.outbox.isEmpty)
        let after = try XCTUnwrap(lab.b.ready.first)
        XCTAssertEqual(after.remoteNextMessageID, before.remoteNextMessageID)
        XCTAssertTrue(lab.b.deleted.isEmpty)
    }

    func testUnknownSPIIsDroppedAndCounted() throws {
        let lab = lab()
        let message = IKEMessage(
            header: IKEHeader(
                initiatorSPI: 1, responderSPI: 2, nextPayload: 0, exchangeType: .informational,
                isInitiator: true, isResponse: false, messageID: 0),
            payloads: [])
        lab.b.engine.receive(
            IKEDatagram(
                local: IKEEndpoint(address: lab.b.address, port: 500),
                remote: IKEEndpoint(address: lab.a.address, port: 500), bytes: message.encodeClear()
            ))
        XCTAssertEqual(lab.b.engine.dropCounters["unknown SPI"], 1)
    }

    func testClearSendsDeleteToPeer() throws {
        // A->B INFORMATIONAL request 2 SK{D(IKE)}; B->A response; both remove their SAs.
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        let tunnel = try XCTUnwrap(lab.a.ready.first).tunnelID
        lab.a.engine.clear(tunnelID: tunnel)
        lab.run()
        XCTAssertEqual(
            Array(lab.transcript.suffix(2)),
            [
                "A INFORMATIONAL request 2", "B INFORMATIONAL response 2",
            ])
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
        XCTAssertEqual(lab.b.deleted, lab.b.installed.map(\.inboundSPI))
        XCTAssertEqual(lab.a.deleted, lab.a.installed.map(\.inboundSPI))
        XCTAssertEqual(lab.b.changes.map(\.up), [true, false])
    }

    func testSimultaneousInitiationKeepsOneSA() {
        // Both gateways initiate; A (the lower address) keeps its own IKE SA.
        let lab = lab(passiveB: false)
        lab.a.engine.start()
        lab.b.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertEqual(lab.a.ready.first?.isInitiator, true)
        XCTAssertEqual(lab.b.ready.first?.isInitiator, false)
        XCTAssertEqual(lab.a.installed.count - lab.a.deleted.count, 1)
        XCTAssertEqual(lab.b.installed.count - lab.b.deleted.count, 1)

        // Later timers do not start another one.
        lab.advance(60)
        XCTAssertEqual(lab.a.engine.ikeSAStatuses().count, 1)
        XCTAssertEqual(lab.b.engine.ikeSAStatuses().count, 1)
    }

    func testAdoptedTargetInitiatesAfterDelete() {
        // B adopts the IKE SA that A initiated for its own crypto map entry;
        // when A clears it, B's entry is free to initiate again.
        let lab = lab(passiveB: false)
        lab.a.engine.start()
        lab.run()
        lab.b.engine.start()
        XCTAssertTrue(lab.b.outbox.isEmpty)

        lab.a.engine.clear(tunnelID: nil)
        lab.run()
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
        lab.advance(1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertEqual(lab.b.installed.count - lab.b.deleted.count, 1)
    }

    func testRestoredStateAnswersPeer() throws {
        // A new engine given B's exported state keeps serving the IKE SA.
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        let saved = lab.b.engine.exportStates()
        let restarted = Gateway(
            name: "B", address: "198.51.100.2", config: LabConfig.text(gateway: "B"),
            clock: { [unowned lab] in lab.now }, seed: 3, firstSPI: 0xC000_0001)
        restarted.engine.restore(saved)
        lab.b = restarted
        XCTAssertEqual(restarted.ready.count, 1)

        lab.a.engine.clear(tunnelID: nil)
        lab.run()
        XCTAssertEqual(lab.transcript.last, "B INFORMATIONAL response 2")
        XCTAssertTrue(restarted.engine.ikeSAStatuses().isEmpty)
        XCTAssertEqual(restarted.deleted, saved.first?.childSAs.map(\.inboundSPI))
    }
}
