// IKE SA rekeying with CREATE_CHILD_SA from either side: new SPIs and keys
// from SK_d, Child SAs moved and the old SA deleted. Also collisions,
// lifetimes, and a restart in the middle of a rekey.

import Foundation
import TaglineConfig
import TaglineCore
import TaglineCrypto
import XCTest

@testable import TaglineIKE

final class IKERekeyTests: XCTestCase {
    /// Checks that each side contains one established IKE SA, the same one,
    /// and that every Child SA of each side belongs to it.
    private func assertSingleIKESA(
        _ lab: Lab, file: StaticString = #filePath, line: UInt = #line
    ) {
        let a = lab.a.establishedStates
        let b = lab.b.establishedStates
        XCTAssertEqual(a.count, 1, "A's IKE SAs", file: file, line: line)
        XCTAssertEqual(b.count, 1, "B's IKE SAs", file: file, line: line)
        XCTAssertEqual(a.first?.name, b.first?.name, file: file, line: line)
        XCTAssertEqual(a.first?.keys, b.first?.keys, file: file, line: line)
        for child in lab.a.children + lab.b.children {
            XCTAssertEqual(child.ikeSAName, a.first?.name, file: file, line: line)
        }
    }

    func testInitiatorRekey() throws {
        let lab = Lab.established()
        let old = try XCTUnwrap(lab.a.establishedStates.first)
        let child = lab.a.installed[0]
        lab.capture()
        XCTAssertTrue(lab.a.engine.rekeyIKESA(tunnelID: old.tunnelID))
        // A->B CREATE_CHILD_SA request: SA (IKE, A's new SPI), Ni, KEi
        // B->A CREATE_CHILD_SA response: SA (IKE, B's new SPI), Nr, KEr
        // A->B INFORMATIONAL request: D(IKE), on the old IKE SA
        // B->A INFORMATIONAL response: empty
        lab.run()
        XCTAssertEqual(
            lab.transcript.suffix(4),
            [
                "A CREATE_CHILD_SA request 2", "B CREATE_CHILD_SA response 2",
                "A INFORMATIONAL request 3", "B INFORMATIONAL response 3",
            ])
        assertSingleIKESA(lab)
        let new = try XCTUnwrap(lab.a.establishedStates.first)
        XCTAssertNotEqual(new.initiatorSPI, old.initiatorSPI)
        XCTAssertNotEqual(new.responderSPI, old.responderSPI)
        XCTAssertNotEqual(new.keys, old.keys)
        XCTAssertTrue(new.isInitiator)
        XCTAssertEqual(new.nextRequestID, 0)

        // The Child SA moved, keeping its SPIs and tagging; nothing was deleted.
        XCTAssertEqual(lab.a.moved.map(\.inboundSPI), [child.inboundSPI])
        XCTAssertEqual(lab.b.moved.count, 1)
        XCTAssertEqual(lab.a.moved.first?.ikeSAName, new.name)
        XCTAssertEqual(lab.a.deleted, [])
        XCTAssertEqual(lab.b.deleted, [])
        XCTAssertTrue(new.taggingNegotiated)
        XCTAssertTrue(lab.b.establishedStates.first?.taggingNegotiated ?? false)
        XCTAssertTrue(lab.a.children.allSatisfy(\.taggingNegotiated))

        // CREATE_CHILD_SA has no Vendor ID; it was sent once, in IKE_SA_INIT.
        let request = try openMessage(
            datagrams(lab.captured, "CREATE_CHILD_SA request 2")[0].bytes, on: old)
        XCTAssertEqual(request.vendorIDs, [])
        XCTAssertEqual(request.securityAssociation?.proposals.first?.spi.count, 8)
        XCTAssertEqual(
            lab.a.debugLines.filter { $0.contains("Sending custom vendor id") }.count, 1)
        XCTAssertEqual(lab.a.ready.first?.localSPI, IKESAState.hex16(new.localSPI))
        XCTAssertEqual(lab.a.ready.first?.sgtEnabled, true)

        // The new SA carries the next Child SA rekey, from message ID 0.
        lab.a.engine.childSAExpiring(inboundSPI: child.inboundSPI, hard: false)
        lab.run()
        XCTAssertEqual(lab.transcript.last, "B CREATE_CHILD_SA response 0")
        XCTAssertEqual(lab.a.installed.last?.ikeSAName, new.name)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testResponderRekey() throws {
        let lab = Lab.established()
        let old = try XCTUnwrap(lab.b.establishedStates.first)
        // B->A CREATE_CHILD_SA request: SA (IKE), Ni, KEi
        // A->B CREATE_CHILD_SA response: SA (IKE), Nr, KEr
        // B->A INFORMATIONAL request: D(IKE); A->B response: empty
        XCTAssertTrue(lab.b.engine.rekeyIKESA(tunnelID: old.tunnelID))
        lab.run()
        XCTAssertEqual(
            lab.transcript.suffix(4),
            [
                "B CREATE_CHILD_SA request 0", "A CREATE_CHILD_SA response 0",
                "B INFORMATIONAL request 1", "A INFORMATIONAL response 1",
            ])
        assertSingleIKESA(lab)
        XCTAssertEqual(lab.b.establishedStates.first?.isInitiator, true)
        XCTAssertEqual(lab.a.establishedStates.first?.isInitiator, false)
        // A's crypto map entry is served by the new SA, so A initiates nothing.
        let before = lab.transcript.count
        lab.advance(30)
        XCTAssertEqual(lab.transcript.count, before)
        XCTAssertEqual(lab.a.problems, [])
    }

    /// After B rekeys the IKE SA, B is the initiator of the new SA but A's
    /// crypto map entry owns it: a cleared Child SA must still come back.
    func testClearAfterResponderRekey() throws {
        let lab = Lab.established()
        let old = try XCTUnwrap(lab.b.establishedStates.first)
        XCTAssertTrue(lab.b.engine.rekeyIKESA(tunnelID: old.tunnelID))
        lab.run()
        assertSingleIKESA(lab)
        let cleared = try XCTUnwrap(lab.a.installed.first)

        XCTAssertEqual(lab.a.engine.clearChildSAs(peer: nil), 1)
        lab.run()
        lab.advance(5)
        XCTAssertEqual(lab.a.children.count, 1, "A's Child SAs after clear crypto sa")
        XCTAssertEqual(lab.b.children.count, 1, "B's Child SAs after clear crypto sa")
        XCTAssertNotEqual(lab.a.children.first?.inboundSPI, cleared.inboundSPI)
        assertSingleIKESA(lab)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testRekeyedKeysFollowRFC() throws {
        // SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the old SA's PRF.
        let oldKey = [UInt8](repeating: 0x11, count: 20)
        let secret = [UInt8](repeating: 0x22, count: 32)
        let ni = [UInt8](repeating: 0x33, count: 16)
        let nr = [UInt8](repeating: 0x44, count: 16)
        let keys = try IKESAKeys.deriveRekeyed(
            oldPRF: .hmacSHA1, oldDerivationKey: oldKey, prf: .hmacSHA256,
            encryption: .aesCBC128, integrity: .hmacSHA256_128, sharedSecret: secret,
            initiatorNonce: ni, responderNonce: nr, initiatorSPI: 0x0102_0304_0506_0708,
            responderSPI: 0x1112_1314_1516_1718)
        let seed = try PRF.compute(.hmacSHA1, key: oldKey, data: secret + ni + nr)
        let spis: [UInt8] = [
            1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
        ]
        let stream = try PRF.plus(.hmacSHA256, key: seed, seed: ni + nr + spis, length: 32)
        XCTAssertEqual(keys.derivation.bytes, stream)
        XCTAssertEqual(keys.initiatorIdentity.bytes.count, 32)
    }

    func testLifetimeRekey() throws {
        var options = LabConfig.Options()
        options.ikeLifetime = 600
        let lab = Lab.established(options)
        let start = lab.now
        let old = try XCTUnwrap(lab.a.establishedStates.first)
        XCTAssertEqual(lab.a.ready.first?.lifetimeSeconds, 600)
        lab.advance(100)
        XCTAssertEqual(lab.a.ready.first?.activeSeconds, 100)

        // Whichever side's rekey time (85-95% of 600 s) comes first rekeys.
        var rekeyedAt: Double?
        while lab.now < start + 600 {
            lab.advance(5)
            if rekeyedAt == nil, lab.transcript.contains(where: { $0.contains("CREATE_CHILD_SA") })
            {
                rekeyedAt = lab.now
            }
        }
        let time = try XCTUnwrap(rekeyedAt) - start
        XCTAssertGreaterThanOrEqual(time, 510)
        XCTAssertLessThanOrEqual(time, 575)
        XCTAssertEqual(lab.transcript.filter { $0.contains("CREATE_CHILD_SA request") }.count, 1)
        assertSingleIKESA(lab)
        let new = try XCTUnwrap(lab.a.establishedStates.first)
        XCTAssertNotEqual(new.initiatorSPI, old.initiatorSPI)
        XCTAssertEqual(lab.a.ready.first?.lifetimeSeconds, 600)
        XCTAssertEqual(lab.a.ready.first?.activeSeconds, Int(lab.now - start - time))
        XCTAssertEqual(lab.a.deleted, [])
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testExpiryWithoutRekey() throws {
        var options = LabConfig.Options()
        options.ikeLifetime = 600
        var optionsB = options
        optionsB.ikeLifetime = 86400
        let lab = Lab.established(options, optionsB)
        let start = lab.now
        let child = lab.a.installed[0]
        let old = try XCTUnwrap(lab.a.establishedStates.first)
        // B no longer accepts A's IKE proposal, so every rekey of A gets NO_PROPOSAL_CHOSEN.
        optionsB.ikeProposal = "encryption aes-cbc-256\n integrity sha256\n group 14"
        lab.b.engine.updateConfig(
            ConfigLoader.parse(text: LabConfig.text(gateway: "B", optionsB)).config)
        while lab.now + 5 < start + 600 {
            lab.advance(5)
        }
        XCTAssertTrue(lab.a.problems.contains { $0.contains("rekey failed") })
        XCTAssertEqual(lab.a.establishedStates.map(\.localSPI), [old.localSPI])
        lab.advance(5)
        XCTAssertTrue(
            lab.a.logLines.contains { $0.message.contains("reached its lifetime of 600 s") })
        XCTAssertTrue(lab.a.deleted.contains(child.inboundSPI))
        XCTAssertFalse(lab.a.establishedStates.contains { $0.localSPI == old.localSPI })
        XCTAssertFalse(lab.b.establishedStates.contains { $0.name == old.name })
    }

    func testCollision() throws {
        let lab = Lab.established()
        let child = lab.a.installed[0]
        // Both requests are in flight before either side gets a response:
        // A->B CREATE_CHILD_SA request 2: SA (IKE), Ni, KEi
        // B->A CREATE_CHILD_SA response 2: SA (IKE), Nr, KEr
        // B->A CREATE_CHILD_SA request 0: SA (IKE), Ni, KEi
        // A->B CREATE_CHILD_SA response 0: SA (IKE), Nr, KEr
        // then the side whose new SA has the lowest nonce deletes it, and
        // the side that initiated the surviving one deletes the old SA.
        XCTAssertTrue(lab.a.engine.rekeyIKESA(tunnelID: 1))
        XCTAssertTrue(lab.b.engine.rekeyIKESA(tunnelID: 1))
        lab.run()
        lab.advance(1)
        assertSingleIKESA(lab)
        let redundant = (lab.a.logLines + lab.b.logLines).filter {
            $0.message.contains("deleting the redundant new IKE SA")
        }
        XCTAssertEqual(redundant.count, 1)
        XCTAssertEqual(lab.a.children.map(\.inboundSPI), [child.inboundSPI])
        XCTAssertEqual(lab.b.children.map(\.outboundSPI), [child.inboundSPI])
        XCTAssertEqual(lab.a.deleted, [])
        XCTAssertEqual(lab.b.deleted, [])
        XCTAssertEqual(lab.a.engine.ikeSAStatuses().count, 1)
        XCTAssertEqual(lab.b.engine.ikeSAStatuses().count, 1)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testCollisionWithChildRekey() throws {
        let lab = Lab.established()
        let oldB = lab.b.installed[0]
        // A->B CREATE_CHILD_SA request 2 (IKE SA rekey) meets
        // B->A CREATE_CHILD_SA request 0 (Child SA rekey): each side responds
        // N(TEMPORARY_FAILURE), because Child SAs must not move mid-exchange,
        // and both try again 10-20 s later.
        XCTAssertTrue(lab.a.engine.rekeyIKESA(tunnelID: 1))
        lab.b.engine.childSAExpiring(inboundSPI: oldB.inboundSPI, hard: false)
        lab.run()
        XCTAssertTrue(lab.a.logLines.contains { $0.message.contains("got TEMPORARY_FAILURE") })
        XCTAssertTrue(lab.b.logLines.contains { $0.message.contains("got TEMPORARY_FAILURE") })
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertEqual(lab.a.establishedStates.count, 1)
        for _ in 0..<8 { lab.advance(5) }
        assertSingleIKESA(lab)
        XCTAssertEqual(lab.b.installed.count, 2)
        XCTAssertEqual(lab.b.deleted, [oldB.inboundSPI])
        XCTAssertEqual(lab.a.children.count, 1)
        XCTAssertEqual(lab.a.children.first?.inboundSPI, lab.b.children.first?.outboundSPI)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testPFSChildCollision() {
        var options = LabConfig.Options()
        options.pfs = "group19"
        let lab = Lab.established(options)
        let oldA = lab.a.installed[0].inboundSPI
        let oldB = lab.b.installed[0].inboundSPI
        // A->B and B->A CREATE_CHILD_SA requests: N(REKEY_SA), SA, Ni, KEi, TSi, TSr,
        // for the same Child SA, both in flight before either response.
        lab.a.engine.childSAExpiring(inboundSPI: oldA, hard: false)
        lab.b.engine.childSAExpiring(inboundSPI: oldB, hard: false)
        lab.run()
        lab.advance(1)
        XCTAssertTrue(lab.a.deleted.contains(oldA))
        XCTAssertTrue(lab.b.deleted.contains(oldB))
        XCTAssertEqual(lab.a.children.count, 1)
        XCTAssertEqual(lab.b.children.count, 1)
        XCTAssertEqual(lab.a.children.first?.inboundSPI, lab.b.children.first?.outboundSPI)
        XCTAssertEqual(lab.a.children.first?.pfsGroup, .ecp256)
        XCTAssertEqual(lab.a.children.first?.outboundKeys, lab.b.children.first?.inboundKeys)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    /// Sends A's IKE SA rekey, loses B's response and restarts A from its
    /// saved state. Returns the lab and the restarted A.
    private func restartMidRekey(keepDHKey: Bool) throws -> (Lab, Gateway) {
        let lab = Lab.established()
        // A's rekey reaches B, which moves its Child SA to the new IKE SA, but
        // B's response is lost and A restarts before retransmitting.
        lab.network = { Lab.describe($0.bytes) == "CREATE_CHILD_SA response 2" ? nil : $0 }
        XCTAssertTrue(lab.a.engine.rekeyIKESA(tunnelID: 1))
        lab.run()
        XCTAssertEqual(lab.b.establishedStates.count, 2)
        var saved = try JSONDecoder().decode(
            [IKESAState].self, from: JSONEncoder().encode(lab.a.engine.exportStates()))
        XCTAssertNotNil(saved.first?.pendingIKERekey?.dhPrivateKey)
        if !keepDHKey { saved[0].pendingIKERekey?.dhPrivateKey = nil }
        let restarted = Gateway(
            name: "A", address: "198.51.100.1", config: LabConfig.text(gateway: "A"),
            clock: { [unowned lab] in lab.now }, seed: 3, firstSPI: 0xA100_0001)
        restarted.engine.restore(saved)
        lab.a = restarted
        lab.network = { $0 }
        return (lab, restarted)
    }

    func testRestoreMidRekey() throws {
        let (lab, restarted) = try restartMidRekey(keepDHKey: true)
        let child = try XCTUnwrap(lab.b.children.first)

        // A->B CREATE_CHILD_SA request 2, retransmitted unchanged;
        // B->A the cached response: SA, Nr, KEr. A rebuilt its DH key pair
        // from the saved state, so it finishes the rekey;
        // A->B INFORMATIONAL request 3: D(old IKE SA); B->A response.
        lab.advance(1)
        lab.advance(1)
        XCTAssertEqual(restarted.problems, [])
        XCTAssertEqual(restarted.deleted, [])
        XCTAssertEqual(restarted.ready.count, 1)
        XCTAssertEqual(lab.b.establishedStates.count, 1)
        XCTAssertEqual(restarted.children.map(\.outboundSPI), [child.inboundSPI])
        XCTAssertEqual(
            restarted.establishedStates.first?.name, lab.b.establishedStates.first?.name)
    }

    func testRestoreWithoutDHKey() throws {
        // A state saved before the DH private key was kept.
        let (lab, restarted) = try restartMidRekey(keepDHKey: false)
        let child = try XCTUnwrap(restarted.children.first)

        // A->B CREATE_CHILD_SA request 2, retransmitted unchanged;
        // B->A the cached response. A lost its DH value, so it cannot use the
        // new SA: it deletes the old one and initiates a new IKE SA.
        lab.advance(1)
        lab.advance(1)
        XCTAssertTrue(restarted.problems.contains { $0.contains("lost its DH value") })
        XCTAssertEqual(restarted.deleted, [child.inboundSPI])
        XCTAssertEqual(restarted.ready.count, 1)
        XCTAssertEqual(restarted.children.count, 1)
        let fresh = try XCTUnwrap(restarted.children.first)
        XCTAssertTrue(lab.b.children.contains { $0.outboundSPI == fresh.inboundSPI })
        XCTAssertTrue(lab.b.children.contains { $0.inboundSPI == fresh.outboundSPI })
    }

    func testOldStateLoads() throws {
        let lab = Lab.established()
        // A state saved before the rekey fields existed: drop them from the JSON.
        let encoded = try JSONEncoder().encode(lab.a.engine.exportStates())
        var objects = try XCTUnwrap(
            JSONSerialization.jsonObject(with: encoded) as? [[String: Any]])
        let added = ["rekeyAt", "expiresAt", "pendingIKERekey", "replacedBySPI"]
        for index in objects.indices {
            for key in added { objects[index][key] = nil }
            var children = try XCTUnwrap(objects[index]["childSAs"] as? [[String: Any]])
            for child in children.indices { children[child]["pfsGroup"] = nil }
            objects[index]["childSAs"] = children
        }
        let legacy = try JSONSerialization.data(withJSONObject: objects)
        XCTAssertFalse(String(decoding: legacy, as: UTF8.self).contains("expiresAt"))
        let states = try JSONDecoder().decode([IKESAState].self, from: legacy)
        XCTAssertNil(states.first?.expiresAt)
        let restarted = Gateway(
            name: "A", address: "198.51.100.1", config: LabConfig.text(gateway: "A"),
            clock: { [unowned lab] in lab.now }, seed: 3, firstSPI: 0xA100_0001)
        restarted.engine.restore(states)
        let restored = try XCTUnwrap(restarted.establishedStates.first)
        XCTAssertEqual(restored.expiresAt, restored.establishedAt.map { $0 + 86400 })
        XCTAssertNotNil(restored.rekeyAt)
    }
}
