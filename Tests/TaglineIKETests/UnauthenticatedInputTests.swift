// Messages that nothing authenticates change no state (RFC 7296 §2.21.1,
// §2.21.2, §3.14). A protected message whose SK payload is missing, too
// short, fails its integrity check or cannot be decrypted moves no message
// ID, caches no response, removes no SA and gets no reply. An IKE_SA_INIT
// error response does not end the initiation at once.
//
// Lab: A (198.51.100.1) initiates, B (198.51.100.2) responds.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class UnauthenticatedInputTests: XCTestCase {
    private let endpointA = IKEEndpoint(address: IPAddress("198.51.100.1")!, port: 500)
    private let endpointB = IKEEndpoint(address: IPAddress("198.51.100.2")!, port: 500)

    private func establishedLab(ikeProposal: String? = nil) throws -> Lab {
        var options = LabConfig.Options()
        if let ikeProposal { options.ikeProposal = ikeProposal }
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", options),
            configB: LabConfig.text(gateway: "B", options))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        return lab
    }

    /// Returns a message with raw header fields and an SK payload whose body
    /// is `body` as given: no real IV, ciphertext or checksum.
    private func forgedSK(
        initiatorSPI: UInt64, responderSPI: UInt64, exchange: UInt8, flags: UInt8,
        messageID: UInt32, body: [UInt8]
    ) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(initiatorSPI)
        writer.append(responderSPI)
        writer.append(PayloadType.encrypted.rawValue)
        writer.append(UInt8(0x20))  // version 2.0
        writer.append(exchange)
        writer.append(flags)
        writer.append(messageID)
        writer.append(UInt32(IKEHeader.size + 4 + body.count))
        writer.append(UInt8(0))  // SK: no inner payload
        writer.append(UInt8(0))
        writer.append(UInt16(4 + body.count))
        writer.append(contentsOf: body)
        return writer.bytes
    }

    /// B -> A: a forged request on A's IKE SA, as B (the original responder) sends it.
    private func forgedRequestToA(_ lab: Lab, messageID: UInt32, body: [UInt8]) throws {
        let sa = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        let bytes = forgedSK(
            initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI,
            exchange: ExchangeType.informational.rawValue, flags: 0x00, messageID: messageID,
            body: body)
        lab.a.engine.receive(IKEDatagram(local: endpointA, remote: endpointB, bytes: bytes))
    }

    func testShortSKRequestChangesNothing() throws {
        // B -> A  INFORMATIONAL request 0  SK payload of length 4: no IV, no ICV.
        let lab = try establishedLab()
        let before = try XCTUnwrap(lab.a.ready.first)
        try forgedRequestToA(lab, messageID: 0, body: [0x5A, 0x17, 0xC3, 0x09])

        XCTAssertTrue(lab.a.outbox.isEmpty)
        XCTAssertEqual(lab.a.engine.dropCounters["malformed SK payload"], 1)
        let after = try XCTUnwrap(lab.a.ready.first)
        XCTAssertEqual(after.remoteNextMessageID, before.remoteNextMessageID)
        XCTAssertNil(lab.a.engine.ikeSAs.values.first?.lastResponse)

        // B -> A  INFORMATIONAL request 0  SK{D(IKE)}: the real Delete still fits the window.
        // A -> B  INFORMATIONAL response 0
        lab.b.engine.clear(tunnelID: nil)
        lab.run()
        XCTAssertEqual(
            Array(lab.transcript.suffix(2)),
            ["B INFORMATIONAL request 0", "A INFORMATIONAL response 0"])
        XCTAssertTrue(lab.a.engine.ikeSAStatuses().isEmpty)
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
    }

    func testForgedSKOfAnyLengthChangesNothing() throws {
        // Per suite, SK bodies up to IV plus checksum are malformed; longer ones fail
        // the integrity check, because their checksum (or tag) is random bytes.
        let suites = [
            "encryption aes-cbc-128\n integrity sha256\n group 19",
            "encryption aes-gcm-128\n prf sha256\n group 19",
        ]
        for suite in suites {
            let lab = try establishedLab(ikeProposal: suite)
            let keys = try XCTUnwrap(lab.b.engine.ikeSAs.values.first?.sendKeys)
            let minimum = keys.ivLength + keys.checksumLength
            let random = SeededRandom(seed: 7)
            var expected: [String: UInt64] = [:]
            for length in [0, 1, 4, 8, 16, 24, 25, 32, 33, 48, 100, 300] {
                try forgedRequestToA(lab, messageID: 0, body: random.bytes(length))
                let reason = length <= minimum ? "malformed SK payload" : "integrity check failed"
                expected[reason, default: 0] += 1
            }
            XCTAssertEqual(lab.a.engine.dropCounters, expected, suite)
            XCTAssertTrue(lab.a.outbox.isEmpty, suite)
            XCTAssertEqual(lab.a.ready.first?.remoteNextMessageID, 0, suite)
        }
    }

    func testForgedSKTableLeavesSAUsable() throws {
        // B -> A: every exchange type and flag combination, message IDs around the
        // window and at the top bit, SK bodies of many lengths; none is authentic.
        let lab = try establishedLab()
        let sa = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        let random = SeededRandom(seed: 11)
        var sent: UInt64 = 0
        for exchange: UInt8 in [37, 36, 35, 34, 38] {
            for flags: UInt8 in [0x00, 0x20, 0x08, 0x28] {
                for messageID: UInt32 in [0, 1, 2, 5, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF] {
                    for length in [0, 4, 8, 16, 32, 100, 300] {
                        let bytes = forgedSK(
                            initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI,
                            exchange: exchange, flags: flags, messageID: messageID,
                            body: random.bytes(length))
                        lab.a.engine.receive(
                            IKEDatagram(local: endpointA, remote: endpointB, bytes: bytes))
                        sent += 1
                    }
                }
            }
        }
        XCTAssertTrue(lab.a.outbox.isEmpty)
        XCTAssertEqual(lab.a.engine.dropCounters.values.reduce(0, +), sent)
        XCTAssertEqual(lab.a.ready.first?.remoteNextMessageID, 0)
        XCTAssertTrue(lab.a.deleted.isEmpty)

        // The SA still carries B's real Delete.
        lab.b.engine.clear(tunnelID: nil)
        lab.run()
        XCTAssertTrue(lab.a.engine.ikeSAStatuses().isEmpty)
    }

    func testForgedAuthKeepsHalfOpenSA() throws {
        // A -> B  IKE_SA_INIT request 0; B -> A  IKE_SA_INIT response 0
        // A -> B  IKE_AUTH request 1, rewritten in flight (two ways below); B drops it
        // A -> B  IKE_AUTH request 1 again after 1 s; B -> A  IKE_AUTH response 1
        let rewrites: [(String, String, ([UInt8]) -> [UInt8])] = [
            (
                "SK of length 4", "malformed SK payload",
                { bytes in
                    // IKE header with Length 36, SK header with Length 8, 4 bytes of the body.
                    var short = Array(bytes.prefix(IKEHeader.size + 8))
                    short.replaceSubrange(
                        IKEHeader.lengthOffset..<(IKEHeader.lengthOffset + 4),
                        with: [0, 0, 0, UInt8(IKEHeader.size + 8)])
                    short.replaceSubrange(
                        (IKEHeader.size + 2)..<(IKEHeader.size + 4), with: [0, 8])
                    return short
                }
            ),
            (
                "flipped ICV byte", "integrity check failed",
                { bytes in
                    var flipped = bytes
                    flipped[flipped.count - 1] ^= 0x01
                    return flipped
                }
            ),
        ]
        for (name, reason, rewrite) in rewrites {
            let lab = Lab(
                configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
            var rewritten = false
            lab.network = { datagram in
                guard !rewritten, let header = try? IKEHeader.decode(datagram.bytes),
                    header.exchangeType == .ikeAuth, !header.isResponse
                else { return datagram }
                rewritten = true
                var forged = datagram
                forged.bytes = rewrite(datagram.bytes)
                return forged
            }
            lab.a.engine.start()
            lab.run()
            XCTAssertEqual(lab.transcript.last, "A IKE_AUTH request 1", name)
            XCTAssertEqual(lab.b.engine.dropCounters[reason], 1, name)
            XCTAssertEqual(lab.b.engine.halfOpenSACount, 1, name)
            XCTAssertEqual(lab.b.engine.ikeSAs.values.first?.expectedPeerRequestID, 1, name)

            lab.advance(1)
            XCTAssertEqual(lab.a.ready.count, 1, name)
            XCTAssertEqual(lab.b.ready.count, 1, name)
            XCTAssertEqual(lab.b.engine.halfOpenSACount, 0, name)
        }
    }

    func testClearRequestWithoutSKIsDropped() throws {
        // B -> A  INFORMATIONAL request 0 with D(IKE) in clear: no SK payload at all.
        let lab = try establishedLab()
        let sa = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        let message = IKEMessage(
            header: IKEHeader(
                initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI, nextPayload: 0,
                exchangeType: .informational, isInitiator: false, isResponse: false,
                messageID: 0),
            payloads: [.delete(.ikeSA)])
        lab.a.engine.receive(
            IKEDatagram(local: endpointA, remote: endpointB, bytes: message.encodeClear()))
        XCTAssertTrue(lab.a.outbox.isEmpty)
        XCTAssertEqual(lab.a.engine.dropCounters["missing SK payload"], 1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.a.ready.first?.remoteNextMessageID, 0)
    }

    func testAuthenticMalformedRequestGetsInvalidSyntax() throws {
        // B -> A  INFORMATIONAL request 0  SK{N with Payload Length 2}, sealed with B's keys
        // A -> B  INFORMATIONAL response 0  SK{N(INVALID_SYNTAX)}
        let lab = try establishedLab()
        let saA = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        let saB = try XCTUnwrap(lab.b.engine.ikeSAs.values.first)
        let header = IKEHeader(
            initiatorSPI: saB.initiatorSPI, responderSPI: saB.responderSPI,
            nextPayload: PayloadType.encrypted.rawValue, exchangeType: .informational,
            isInitiator: false, isResponse: false, messageID: 0)
        let bytes = try SKPayload.seal(
            header: header, firstInnerType: PayloadType.notify.rawValue,
            plaintext: [0x00, 0x00, 0x00, 0x02], keys: XCTUnwrap(saB.sendKeys),
            random: SeededRandom(seed: 5).bytes)
        lab.a.engine.receive(IKEDatagram(local: endpointA, remote: endpointB, bytes: bytes))

        XCTAssertEqual(lab.a.outbox.count, 1)
        let reply = try ReceivedMessage.decode(XCTUnwrap(lab.a.outbox.first).bytes)
        let opened = try reply.decrypt(with: XCTUnwrap(saA.sendKeys))
        XCTAssertEqual(opened.errorNotify?.type, .invalidSyntax)
        XCTAssertEqual(lab.a.engine.dropCounters["malformed"], 1)
        XCTAssertEqual(lab.a.ready.first?.remoteNextMessageID, 1)
    }

    func testDropLogIsRateLimited() throws {
        // 50 forged requests: 5 warnings, then one summary when the 60 s interval ends.
        let lab = try establishedLab()
        let start = lab.now
        for _ in 0..<50 {
            try forgedRequestToA(lab, messageID: 0, body: [1, 2, 3, 4])
        }
        let lines = lab.a.logLines.filter { $0.message.contains("malformed SK payload") }
        XCTAssertEqual(lab.a.engine.dropCounters["malformed SK payload"], 50)
        XCTAssertEqual(lines.count, 5)
        XCTAssertEqual(lines.first?.level, .warning)
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), start + 60)

        lab.advance(60)
        XCTAssertEqual(
            lab.a.logLines.last?.message,
            "malformed SK payload: 45 more in the last 60 s, not logged one by one")
        try forgedRequestToA(lab, messageID: 0, body: [1, 2, 3, 4])
        XCTAssertEqual(
            lab.a.logLines.filter { $0.message.contains("has a malformed SK payload") }.count, 6)
    }

    func testForgedInitErrorIsIgnored() throws {
        // A -> B  IKE_SA_INIT request 0
        // X -> A  IKE_SA_INIT response 0  N(NO_PROPOSAL_CHOSEN), forged by a third party
        // B -> A  IKE_SA_INIT response 0, then IKE_AUTH as usual
        let lab = Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
        lab.network = { [unowned lab] datagram in
            guard let header = try? IKEHeader.decode(datagram.bytes),
                header.exchangeType == .ikeSAInit, header.isResponse,
                lab.a.engine.dropCounters.isEmpty
            else { return datagram }
            let forged = IKEMessage(
                header: IKEHeader(
                    initiatorSPI: header.initiatorSPI, responderSPI: 0, nextPayload: 0,
                    exchangeType: .ikeSAInit, isInitiator: false, isResponse: true,
                    messageID: 0),
                payloads: [.notify(NotifyPayload(type: .noProposalChosen))])
            lab.a.engine.receive(
                IKEDatagram(
                    local: datagram.remote, remote: datagram.local, bytes: forged.encodeClear()))
            return datagram
        }
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.engine.dropCounters["unusable IKE_SA_INIT response"], 1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
    }

    func testInitRejectionFailsWhenRetransmissionsRunOut() {
        // B rejects every transmission (at 0, 1, 3, 7 and 15 s) with NO_PROPOSAL_CHOSEN;
        // A gives up at 31 s, naming the peer's reason, and backs off.
        var optionsA = LabConfig.Options()
        optionsA.ikeProposal = "encryption 3des\n integrity md5\n group 2"
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", optionsA), configB: LabConfig.text(gateway: "B"))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.engine.ikeSAStatuses().first?.status, "IN-NEG")
        for _ in 0..<30 { lab.advance(1) }
        XCTAssertEqual(lab.a.engine.ikeSAStatuses().first?.status, "IN-NEG")

        lab.advance(1)
        XCTAssertTrue(lab.a.engine.ikeSAStatuses().isEmpty)
        XCTAssertEqual(lab.b.engine.dropCounters["IKE_SA_INIT rejected"], 5)
        XCTAssertEqual(lab.a.engine.dropCounters["unusable IKE_SA_INIT response"], 5)
        XCTAssertEqual(lab.a.problems.count, 2, "\(lab.a.problems)")
        XCTAssertTrue(lab.a.problems.last?.contains("NO_PROPOSAL_CHOSEN") ?? false)
        XCTAssertEqual(lab.a.engine.nextTimerDeadline(), lab.now + 10)
    }
}
