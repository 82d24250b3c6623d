// INFORMATIONAL Deletes of Child SAs and IKE SAs from either side: clearing
// Child SAs while the IKE SA stays, a Delete for an unknown SPI, Deletes that
// cross (RFC 7296 §1.4.1), and an IKE SA Delete during a CREATE_CHILD_SA.
//
// Lab: A (198.51.100.1) initiates, B (198.51.100.2) responds.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class DeleteTests: XCTestCase {
    private func establishedLab() -> Lab {
        let lab = Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1)
        return lab
    }

    /// Returns the payloads of every protected response `to` receives from now on.
    private func captureResponses(_ lab: Lab, to gateway: Gateway) -> () -> [[IKEPayload]] {
        var captured: [[UInt8]] = []
        lab.network = { datagram in
            if datagram.remote.address == gateway.address,
                (try? IKEHeader.decode(datagram.bytes))?.isResponse == true
            {
                captured.append(datagram.bytes)
            }
            return datagram
        }
        return {
            let keys = gateway.engine.ikeSAs.values.first?.receiveKeys
            return captured.compactMap { bytes in
                guard let keys else { return nil }
                return try? ReceivedMessage.decode(bytes).decrypt(with: keys).payloads
            }
        }
    }

    func testInitiatorClearsChildSAs() throws {
        let lab = establishedLab()
        let tunnel = try XCTUnwrap(lab.a.ready.first).tunnelID
        let old = try XCTUnwrap(lab.a.installed.first)
        XCTAssertEqual(lab.a.engine.clearChildSAs(peer: nil), 1)
        XCTAssertEqual(lab.a.deleted, [old.inboundSPI], "deleted locally at once")
        lab.run()
        // A->B INFORMATIONAL request 2 SK{D(ESP old)}; B->A response 2 SK{D(ESP)};
        // A->B CREATE_CHILD_SA request 3 SK{SA, Ni, TSi, TSr}; B->A response 3.
        XCTAssertEqual(
            lab.transcript.suffix(4),
            [
                "A INFORMATIONAL request 2", "B INFORMATIONAL response 2",
                "A CREATE_CHILD_SA request 3", "B CREATE_CHILD_SA response 3",
            ])
        XCTAssertEqual(lab.b.deleted, [lab.b.installed[0].inboundSPI])
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertNotEqual(lab.a.installed[1].inboundSPI, old.inboundSPI)
        assertOneChildPair(lab)
        XCTAssertEqual(lab.a.ready.first?.tunnelID, tunnel, "the IKE SA stays")
        XCTAssertEqual(lab.a.changes.map(\.up), [true])
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testResponderClearsChildSAs() throws {
        let lab = establishedLab()
        let responses = captureResponses(lab, to: lab.b)
        XCTAssertEqual(lab.b.engine.clearChildSAs(peer: lab.a.address), 1)
        lab.run()
        // B->A INFORMATIONAL request 0 SK{D(ESP)}; A->B response 0 SK{D(ESP)};
        // A, the initiator left without Child SA: A->B CREATE_CHILD_SA request 2; B->A response 2.
        XCTAssertEqual(
            lab.transcript.suffix(4),
            [
                "B INFORMATIONAL request 0", "A INFORMATIONAL response 0",
                "A CREATE_CHILD_SA request 2", "B CREATE_CHILD_SA response 2",
            ])
        let deleteResponse = try XCTUnwrap(responses().first)
        guard case .delete(let delete)? = deleteResponse.first else {
            return XCTFail("A's response names no Child SA: \(deleteResponse)")
        }
        XCTAssertEqual(delete.espSPIs, [lab.a.installed[0].inboundSPI])
        assertOneChildPair(lab)
        XCTAssertEqual(lab.a.deleted, [lab.a.installed[0].inboundSPI])
    }

    func testClearOtherPeerDoesNothing() {
        let lab = establishedLab()
        XCTAssertEqual(lab.a.engine.clearChildSAs(peer: IPAddress("198.51.100.9")!), 0)
        XCTAssertTrue(lab.a.outbox.isEmpty)
        XCTAssertEqual(lab.a.children.count, 1)
    }

    func testDeleteForUnknownSPI() throws {
        let lab = establishedLab()
        let responses = captureResponses(lab, to: lab.a)
        var sa = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        // A->B INFORMATIONAL request 2 SK{D(ESP 0xdeadbeef)}; B->A response 2 SK{}.
        lab.a.engine.sendRequest(
            .informational, [.delete(DeletePayload(espSPIs: [0xDEAD_BEEF]))], &sa,
            keys: try XCTUnwrap(sa.sendKeys))
        lab.run()
        XCTAssertEqual(lab.b.engine.dropCounters["Delete for unknown SPI"], 1)
        XCTAssertEqual(responses(), [[]])
        XCTAssertEqual(lab.a.engine.ikeSAs.values.first?.outstanding, nil)
        XCTAssertTrue(lab.b.deleted.isEmpty)
        assertOneChildPair(lab)
        XCTAssertEqual(lab.b.problems, [])
    }

    func testDeleteForOtherProtocol() throws {
        let lab = establishedLab()
        var sa = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        // A->B INFORMATIONAL request 2 SK{D(AH, SPI size 4)}; B->A response 2 SK{}.
        let ah = DeletePayload(protocolID: 2, spiSize: 4, spis: [[0, 0, 0, 1]])
        lab.a.engine.sendRequest(
            .informational, [.delete(ah)], &sa, keys: try XCTUnwrap(sa.sendKeys))
        lab.run()
        XCTAssertEqual(lab.b.engine.dropCounters["Delete for unknown SPI"], 1)
        XCTAssertEqual(lab.transcript.last, "B INFORMATIONAL response 2")
        assertOneChildPair(lab)
    }

    func testMalformedDeleteKeepsSA() throws {
        let lab = establishedLab()
        let responses = captureResponses(lab, to: lab.a)
        var sa = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        // A->B INFORMATIONAL request 2 SK{D(ESP) announcing 2 SPIs but carrying 1};
        // B->A response 2 SK{N(INVALID_SYNTAX)}.
        let body: [UInt8] = [3, 4, 0, 2, 0xA0, 0, 0, 1]
        lab.a.engine.sendRequest(
            .informational, [.unknown(type: PayloadType.delete.rawValue, body: body)], &sa,
            keys: try XCTUnwrap(sa.sendKeys))
        lab.run()
        XCTAssertEqual(lab.b.engine.dropCounters["malformed"], 1)
        guard case .notify(let notify)? = responses().first?.first else {
            return XCTFail("no notify in \(responses())")
        }
        XCTAssertEqual(notify.type, .invalidSyntax)
        XCTAssertTrue(lab.b.deleted.isEmpty)
        XCTAssertEqual(lab.b.ready.count, 1)
        assertOneChildPair(lab)
    }

    func testCrossingChildDeletes() throws {
        let lab = establishedLab()
        let toA = captureResponses(lab, to: lab.a)
        // Both sides queue a Delete for the same pair, as after a rekey.
        for gateway in [lab.a!, lab.b!] {
            var sa = try XCTUnwrap(gateway.engine.ikeSAs.values.first)
            sa.queuedChildDeletes = [gateway.installed[0].inboundSPI]
            sa.childWorkDueAt = lab.now
            gateway.engine.ikeSAs[sa.localSPI] = sa
            gateway.engine.startNextChildWork(localSPI: sa.localSPI)
        }
        lab.run()
        // A->B INFORMATIONAL request 2 SK{D}; B->A request 0 SK{D}, sent before
        // B saw A's; each response SK{} names nothing; then A creates a fresh pair.
        XCTAssertEqual(
            Array(lab.transcript.suffix(6)),
            [
                "A INFORMATIONAL request 2", "B INFORMATIONAL request 0",
                "A INFORMATIONAL response 0", "B INFORMATIONAL response 2",
                "A CREATE_CHILD_SA request 3", "B CREATE_CHILD_SA response 3",
            ])
        XCTAssertEqual(toA().first, [], "B's response names no SPI again")
        XCTAssertNil(lab.a.engine.dropCounters["Delete for unknown SPI"])
        XCTAssertNil(lab.b.engine.dropCounters["Delete for unknown SPI"])
        XCTAssertEqual(lab.a.deleted, [lab.a.installed[0].inboundSPI])
        XCTAssertEqual(lab.b.deleted, [lab.b.installed[0].inboundSPI])
        assertOneChildPair(lab)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testCrossingIKEDeletes() {
        let lab = establishedLab()
        lab.a.engine.clear(tunnelID: nil)
        lab.b.engine.clear(tunnelID: nil)
        lab.run()
        // A->B INFORMATIONAL request 2 SK{D(IKE)}; B->A request 0 SK{D(IKE)};
        // each side responds and removes its SA, so the other response finds none.
        XCTAssertTrue(lab.a.engine.ikeSAStatuses().isEmpty)
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
        XCTAssertEqual(lab.a.deleted, lab.a.installed.map(\.inboundSPI))
        XCTAssertEqual(lab.b.deleted, lab.b.installed.map(\.inboundSPI))
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testIKEDeleteDuringCreateChild() throws {
        let lab = establishedLab()
        let old = try XCTUnwrap(lab.a.installed.first)
        // A->B CREATE_CHILD_SA request 2 (rekey) crosses B->A INFORMATIONAL request 0 SK{D(IKE)}.
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.b.engine.clear(tunnelID: nil)
        XCTAssertEqual(
            lab.a.engine.ikeSAs.values.first?.pendingChild?.rekeyedInboundSPI, old.inboundSPI)
        lab.run()
        // B, deleting, drops the CREATE_CHILD_SA; A responds to the Delete and removes its SA.
        XCTAssertEqual(
            Array(lab.transcript.suffix(3)),
            [
                "A CREATE_CHILD_SA request 2", "B INFORMATIONAL request 0",
                "A INFORMATIONAL response 0",
            ])
        XCTAssertEqual(lab.b.engine.dropCounters["unexpected exchange"], 1)
        XCTAssertTrue(lab.a.engine.ikeSAStatuses().isEmpty)
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
        XCTAssertEqual(lab.a.installed.count, 1, "the rekey never completed")
        XCTAssertEqual(lab.a.deleted, [old.inboundSPI])

        // A's crypto map entry initiates a new IKE SA after the usual wait.
        lab.advance(1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.a.children.count, 1)
    }
}
