// Child SA rekeying: CREATE_CHILD_SA with REKEY_SA from either side, the new
// pair installed before the old one is deleted, the INFORMATIONAL Delete,
// collisions, and hard expiry without a rekey.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class RekeyTests: XCTestCase {
    private func establishedLab(sgt: Bool = true) -> Lab {
        var options = LabConfig.Options()
        options.sgt = sgt
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", options),
            configB: LabConfig.text(gateway: "B", options))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
        return lab
    }

    func testInitiatorRekey() {
        let lab = establishedLab()
        let old = lab.a.installed[0]
        lab.now += 3200
        let rekeyedAt = lab.now
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        XCTAssertEqual(lab.a.deleted, [], "the Delete waits for rekeyDeleteDelay")
        lab.advance(1)
        XCTAssertEqual(
            lab.transcript.suffix(4),
            [
                "A CREATE_CHILD_SA request 2", "B CREATE_CHILD_SA response 2",
                "A INFORMATIONAL request 3", "B INFORMATIONAL response 3",
            ])
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.b.installed.count, 2)
        let new = lab.a.installed[1]
        XCTAssertNotEqual(new.inboundSPI, old.inboundSPI)
        XCTAssertEqual(new.localSelectors, old.localSelectors)
        XCTAssertEqual(new.remoteSelectors, old.remoteSelectors)
        XCTAssertEqual(new.encryption, old.encryption)
        XCTAssertEqual(new.installedAt, rekeyedAt)
        XCTAssertEqual(lab.a.deleted, [old.inboundSPI])
        XCTAssertEqual(lab.b.deleted, [lab.b.installed[0].inboundSPI])
        assertOneChildPair(lab)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testResponderRekey() {
        let lab = establishedLab()
        let old = lab.b.installed[0]
        lab.b.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        lab.advance(1)
        XCTAssertEqual(
            lab.transcript.suffix(4),
            [
                "B CREATE_CHILD_SA request 0", "A CREATE_CHILD_SA response 0",
                "B INFORMATIONAL request 1", "A INFORMATIONAL response 1",
            ])
        XCTAssertEqual(lab.b.deleted, [old.inboundSPI])
        XCTAssertEqual(lab.a.deleted, [lab.a.installed[0].inboundSPI])
        assertOneChildPair(lab)
        // The SA a rekey replaced is not rekeyed again by the other side.
        let replaced = lab.a.installed[0].inboundSPI
        let before = lab.transcript.count
        lab.a.engine.childSAExpiring(inboundSPI: replaced, hard: false)
        lab.run()
        XCTAssertEqual(lab.transcript.count, before)
    }

    func testOldDeletedAfterNewInstalled() {
        let lab = establishedLab()
        let old = lab.a.installed[0]
        var order: [String] = []
        lab.network = { datagram in
            order.append(
                "\(Lab.describe(datagram.bytes)) A:\(lab.a.installed.count)/"
                    + "\(lab.a.deleted.count) B:\(lab.b.installed.count)/\(lab.b.deleted.count)")
            return datagram
        }
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        lab.advance(1)
        XCTAssertEqual(
            order,
            [
                "CREATE_CHILD_SA request 2 A:1/0 B:1/0",
                "CREATE_CHILD_SA response 2 A:1/0 B:2/0",
                "INFORMATIONAL request 3 A:2/0 B:2/0",
                "INFORMATIONAL response 3 A:2/0 B:2/1",
            ])
        XCTAssertEqual(lab.a.deleted, [old.inboundSPI])
    }

    func testOldKeptUntilDeleteResponse() {
        let lab = establishedLab()
        let old = lab.a.installed[0]
        // Lose every INFORMATIONAL response: A keeps the old pair meanwhile.
        lab.network = { datagram in
            Lab.describe(datagram.bytes).hasPrefix("INFORMATIONAL response") ? nil : datagram
        }
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        lab.advance(1)
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.a.deleted, [])
        XCTAssertEqual(lab.a.children.count, 2)
        lab.network = { $0 }
        lab.advance(1)
        XCTAssertEqual(lab.a.deleted, [old.inboundSPI])
        assertOneChildPair(lab)
    }

    func testTaggingInherited() {
        let lab = establishedLab(sgt: true)
        XCTAssertTrue(lab.a.installed[0].taggingNegotiated)
        // Removing `crypto ikev2 cts sgt` affects new IKE SAs only.
        var options = LabConfig.Options()
        options.sgt = false
        let without = ConfigLoader.parse(text: LabConfig.text(gateway: "A", options)).config
        lab.a.engine.updateConfig(without)
        lab.b.engine.updateConfig(
            ConfigLoader.parse(text: LabConfig.text(gateway: "B", options)).config)
        lab.a.engine.childSAExpiring(inboundSPI: lab.a.installed[0].inboundSPI, hard: false)
        lab.run()
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertTrue(lab.a.installed[1].taggingNegotiated)
        XCTAssertTrue(lab.b.installed[1].taggingNegotiated)
    }

    func testUnknownRekeyRejected() {
        let lab = establishedLab()
        let old = lab.a.installed[0]
        // B drops the pair at its hard expiry and its Delete is lost, then A rekeys it.
        lab.network = { Lab.describe($0.bytes) == "INFORMATIONAL request 0" ? nil : $0 }
        lab.b.engine.childSAExpiring(inboundSPI: lab.b.installed[0].inboundSPI, hard: true)
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        XCTAssertEqual(lab.b.installed.count, 1)
        XCTAssertTrue(lab.b.problems.contains { $0.contains("no Child SA with SPI") })
        XCTAssertTrue(lab.a.problems.contains { $0.contains("CHILD_SA_NOT_FOUND") })
        XCTAssertEqual(lab.a.deleted, [])
    }

    func testCollision() {
        let lab = establishedLab()
        let oldA = lab.a.installed[0].inboundSPI
        let oldB = lab.b.installed[0].inboundSPI
        // Both requests are in flight before either gets a response.
        lab.a.engine.childSAExpiring(inboundSPI: oldA, hard: false)
        lab.b.engine.childSAExpiring(inboundSPI: oldB, hard: false)
        lab.run()
        lab.advance(1)
        XCTAssertTrue(lab.a.deleted.contains(oldA))
        XCTAssertTrue(lab.b.deleted.contains(oldB))
        assertOneChildPair(lab)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testHardExpiryCreatesChild() {
        let lab = establishedLab()
        // The peer never responds to the rekey, so the hard lifetime ends the SA.
        lab.network = { _ in nil }
        let old = lab.a.installed[0]
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        lab.b.engine.childSAExpiring(inboundSPI: lab.b.installed[0].inboundSPI, hard: true)
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: true)
        XCTAssertEqual(lab.a.deleted, [], "sa-manager deleted it already")
        lab.network = { $0 }
        lab.advance(2)
        lab.advance(4)
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.b.installed.count, 2)
        assertOneChildPair(lab)
    }

    func testHardExpiryDelete() {
        let lab = establishedLab()
        let oldA = lab.a.installed[0].inboundSPI
        let oldB = lab.b.installed[0].inboundSPI
        // sa-manager removed B's pair at its hard lifetime, before any rekey.
        // B->A INFORMATIONAL request: D(oldB); A->B the response.
        // A, the initiator, then creates a fresh pair.
        lab.b.engine.childSAExpiring(inboundSPI: oldB, hard: true)
        lab.run()
        XCTAssertTrue(lab.transcript.contains("B INFORMATIONAL request 0"))
        XCTAssertEqual(lab.a.deleted, [oldA])
        XCTAssertEqual(lab.b.deleted, [], "sa-manager deleted it already")
        XCTAssertEqual(lab.b.problems, [])
        assertOneChildPair(lab)
        XCTAssertFalse(lab.a.children.contains { $0.inboundSPI == oldA })
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
    }

    func testRekeyResumedAfterRestore() {
        let lab = establishedLab()
        let old = lab.a.installed[0]
        // A's rekey request is lost and A restarts before it is retransmitted.
        lab.network = { _ in nil }
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        let saved = lab.a.engine.exportStates()
        let restarted = Gateway(
            name: "A", address: "198.51.100.1", config: LabConfig.text(gateway: "A"),
            clock: { [unowned lab] in lab.now }, seed: 3, firstSPI: 0xA100_0001)
        restarted.engine.restore(saved)
        lab.a = restarted
        lab.network = { $0 }
        // The request is retransmitted unchanged, then the Delete follows a second later.
        lab.advance(1)
        XCTAssertEqual(
            restarted.debugLines.first, "IKEv2:(1): Retransmitting CREATE_CHILD_SA request (2 of 5)"
        )
        lab.advance(1)
        XCTAssertEqual(restarted.installed.count, 1)
        XCTAssertEqual(restarted.deleted, [old.inboundSPI])
        assertOneChildPair(lab)
    }
}
