// PFS on CREATE_CHILD_SA (`set pfs groupN`): KE payloads and the DH
// transform, keys from g^ir, the responder's demands (NO_PROPOSAL_CHOSEN,
// INVALID_KE_PAYLOAD and the single retry), and bad or replayed requests.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class PFSTests: XCTestCase {
    /// Two ACL lines, so that the second Child SA needs CREATE_CHILD_SA.
    private func options(pfs: String?) -> LabConfig.Options {
        var options = LabConfig.Options()
        options.protected = [
            "192.0.2.0 0.0.0.127 203.0.113.0 0.0.0.255",
            "192.0.2.128 0.0.0.127 203.0.113.0 0.0.0.255",
        ]
        options.pfs = pfs
        return options
    }

    private func lab(pfsA: String?, pfsB: String?) -> Lab {
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", options(pfs: pfsA)),
            configB: LabConfig.text(gateway: "B", options(pfs: pfsB)))
        lab.capture()
        // A->B IKE_SA_INIT request: SA, KEi, Ni, N(NAT_DETECTION_*), V
        // B->A IKE_SA_INIT response: SA, KEr, Nr, N(NAT_DETECTION_*), V
        // A->B IKE_AUTH request: IDi, AUTH, SA, TSi, TSr (no KE, even with `set pfs`)
        // B->A IKE_AUTH response: IDr, AUTH, SA, TSi, TSr
        // A->B CREATE_CHILD_SA request: SA, Ni, [KEi], TSi, TSr
        // B->A CREATE_CHILD_SA response: SA, Nr, [KEr], TSi, TSr, or a notify
        lab.a.engine.start()
        lab.run()
        return lab
    }

    private func dhGroups(_ message: IKEMessage) -> [UInt16] {
        (message.securityAssociation?.proposals ?? []).flatMap {
            $0.transforms(of: .diffieHellman).map(\.id)
        }
    }

    func testSecondChildUsesPFS() throws {
        let lab = lab(pfsA: "group19", pfsB: "group19")
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.b.installed.count, 2)
        let state = try XCTUnwrap(lab.a.establishedStates.first)

        // IKE_AUTH's Child SA has no KE and no DH transform (RFC 7296 §1.2).
        let auth = try openMessage(
            datagrams(lab.captured, "IKE_AUTH request 1")[0].bytes, on: state)
        XCTAssertNil(auth.keyExchange)
        XCTAssertEqual(dhGroups(auth), [])
        // It keeps the policy's group for its rekeys.
        XCTAssertEqual(lab.a.installed[0].pfsGroup, .ecp256)

        let request = try openMessage(
            datagrams(lab.captured, "CREATE_CHILD_SA request 2")[0].bytes, on: state)
        let response = try openMessage(
            datagrams(lab.captured, "CREATE_CHILD_SA response 2")[0].bytes, on: state)
        XCTAssertEqual(request.keyExchange?.group, .ecp256)
        XCTAssertEqual(dhGroups(request), [19])
        XCTAssertEqual(response.keyExchange?.group, .ecp256)
        XCTAssertEqual(dhGroups(response), [19])

        let a = lab.a.installed[1]
        let b = lab.b.installed[1]
        XCTAssertEqual(a.pfsGroup, .ecp256)
        XCTAssertEqual(b.pfsGroup, .ecp256)
        XCTAssertEqual(a.outboundKeys, b.inboundKeys)
        XCTAssertEqual(a.inboundKeys, b.outboundKeys)

        // Without g^ir the same nonces give other keys, so g^ir went into KEYMAT.
        let algorithms = try XCTUnwrap(state.algorithms)
        let keys = try XCTUnwrap(state.keys)
        let withoutPFS = try ChildSAKeyMaterial.derive(
            prf: algorithms.prf, derivationKey: keys.derivation.bytes, encryption: a.encryption,
            integrity: a.integrity, initiatorNonce: try XCTUnwrap(request.nonce?.nonce),
            responderNonce: try XCTUnwrap(response.nonce?.nonce))
        XCTAssertNotEqual(withoutPFS.initiatorToResponder, a.outboundKeys)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testChildRekeyWithPFS() throws {
        var options = LabConfig.Options()
        options.pfs = "group19"
        let lab = Lab.established(options)
        let old = lab.a.installed[0]
        lab.capture()
        // A->B CREATE_CHILD_SA request: N(REKEY_SA), SA (with DH 19), Ni, KEi, TSi, TSr
        // B->A CREATE_CHILD_SA response: SA, Nr, KEr, TSi, TSr
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        // A->B INFORMATIONAL request: D(old SPI); B->A response: D(B's old SPI)
        lab.advance(1)
        let state = try XCTUnwrap(lab.a.establishedStates.first)
        let request = try openMessage(
            datagrams(lab.captured, "CREATE_CHILD_SA request 2")[0].bytes, on: state)
        XCTAssertNotNil(request.notify(.rekeySA))
        XCTAssertEqual(request.keyExchange?.group, .ecp256)
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.a.installed[1].pfsGroup, .ecp256)
        XCTAssertEqual(lab.b.installed[1].pfsGroup, .ecp256)
        XCTAssertEqual(lab.a.installed[1].outboundKeys, lab.b.installed[1].inboundKeys)
        XCTAssertEqual(lab.a.deleted, [old.inboundSPI])
        XCTAssertEqual(lab.a.children.count, 1)
        XCTAssertEqual(lab.b.children.count, 1)
        XCTAssertEqual(lab.a.problems, [])
    }

    func testResponderRequiresPFS() throws {
        let lab = lab(pfsA: nil, pfsB: "group19")
        // The IKE_AUTH Child SA never has PFS, so B accepts it.
        XCTAssertEqual(lab.a.installed.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
        let state = try XCTUnwrap(lab.a.establishedStates.first)
        let response = try openMessage(
            datagrams(lab.captured, "CREATE_CHILD_SA response 2")[0].bytes, on: state)
        XCTAssertEqual(response.errorNotify?.type, .noProposalChosen)
        XCTAssertTrue(lab.b.problems.contains { $0.contains("no KE payload") })
        XCTAssertTrue(lab.a.problems.contains { $0.contains("NO_PROPOSAL_CHOSEN") })
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertEqual(lab.a.children.count, 1)
    }

    func testOtherGroupRetriedOnce() throws {
        let lab = lab(pfsA: "group14", pfsB: "group19")
        XCTAssertEqual(
            lab.transcript.suffix(4),
            [
                "A CREATE_CHILD_SA request 2", "B CREATE_CHILD_SA response 2",
                "A CREATE_CHILD_SA request 3", "B CREATE_CHILD_SA response 3",
            ])
        let state = try XCTUnwrap(lab.a.establishedStates.first)
        let first = try openMessage(
            datagrams(lab.captured, "CREATE_CHILD_SA request 2")[0].bytes, on: state)
        let rejection = try openMessage(
            datagrams(lab.captured, "CREATE_CHILD_SA response 2")[0].bytes, on: state)
        let second = try openMessage(
            datagrams(lab.captured, "CREATE_CHILD_SA request 3")[0].bytes, on: state)
        XCTAssertEqual(first.keyExchange?.group, .modp2048)
        XCTAssertEqual(rejection.notify(.invalidKEPayload)?.data, [0, 19])
        XCTAssertEqual(second.keyExchange?.group, .ecp256)
        XCTAssertEqual(dhGroups(second), [19])
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.a.installed[1].pfsGroup, .ecp256)
        XCTAssertEqual(lab.a.installed[1].outboundKeys, lab.b.installed[1].inboundKeys)
    }

    func testResponderWithoutPFSAccepts() {
        let lab = lab(pfsA: "group19", pfsB: nil)
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.b.installed.count, 2)
        XCTAssertEqual(lab.a.installed[1].pfsGroup, .ecp256)
        XCTAssertEqual(lab.b.installed[1].pfsGroup, .ecp256)
        XCTAssertEqual(lab.a.installed[1].outboundKeys, lab.b.installed[1].inboundKeys)
    }

    func testBadKELengthRejected() throws {
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", options(pfs: "group19")),
            configB: LabConfig.text(gateway: "B", options(pfs: "group19")))
        // A->B CREATE_CHILD_SA request: SA, Ni, KEi cut to 10 bytes, TSi, TSr
        // B->A CREATE_CHILD_SA response: N(INVALID_SYNTAX)
        lab.network = { [unowned lab] datagram in
            guard Lab.describe(datagram.bytes) == "CREATE_CHILD_SA request 2",
                let state = lab.a.establishedStates.first,
                let message = try? openMessage(datagram.bytes, on: state),
                let keys = state.sendKeys
            else { return datagram }
            let payloads = message.payloads.map { payload -> IKEPayload in
                guard case .keyExchange(let ke) = payload else { return payload }
                return .keyExchange(
                    KEPayload(
                        groupNumber: ke.groupNumber,
                        keyExchangeData: Array(ke.keyExchangeData.prefix(10))))
            }

            var changed = datagram
            changed.bytes = try! IKEMessage(header: message.header, payloads: payloads)
                .encodeProtected(with: keys) { [UInt8](repeating: 7, count: $0) }
            return changed
        }
        lab.a.engine.start()
        lab.run()

        XCTAssertEqual(lab.transcript.last, "B CREATE_CHILD_SA response 2")
        XCTAssertTrue(lab.b.problems.contains { $0.contains("KE data of 10 bytes") })
        XCTAssertTrue(lab.a.problems.contains { $0.contains("INVALID_SYNTAX") })
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertEqual(lab.a.children.count, 1)
        XCTAssertEqual(lab.b.children.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
    }

    func testReplayedRequestResent() throws {
        let lab = lab(pfsA: "group19", pfsB: "group19")
        XCTAssertEqual(lab.b.installed.count, 2)
        let request = datagrams(lab.captured, "CREATE_CHILD_SA request 2")[0]
        let response = datagrams(lab.captured, "CREATE_CHILD_SA response 2")[0]
        // A->B CREATE_CHILD_SA request 2 again, as a replay.
        lab.b.engine.receive(
            IKEDatagram(local: request.remote, remote: request.local, bytes: request.bytes))
        XCTAssertEqual(lab.b.engine.retransmittedResponses, 1)
        XCTAssertEqual(lab.b.outbox.map(\.bytes), [response.bytes])
        XCTAssertEqual(lab.b.installed.count, 2)
        XCTAssertEqual(lab.b.children.count, 2)
        // B->A CREATE_CHILD_SA response 2 again: A awaits nothing, so it is dropped.
        lab.run()
        XCTAssertEqual(lab.a.engine.dropCounters["unexpected response"], 1)
        XCTAssertEqual(lab.a.installed.count, 2)
    }

    func testUnknownRekeyKeepsSA() {
        var options = LabConfig.Options()
        options.pfs = "group19"
        let lab = Lab.established(options)
        let old = lab.a.installed[0]
        // B drops the pair at its hard expiry and its Delete is lost, then A
        // rekeys it with PFS.
        lab.network = { Lab.describe($0.bytes) == "INFORMATIONAL request 0" ? nil : $0 }
        lab.b.engine.childSAExpiring(inboundSPI: lab.b.installed[0].inboundSPI, hard: true)
        // A->B CREATE_CHILD_SA request: N(REKEY_SA), SA, Ni, KEi, TSi, TSr
        // B->A CREATE_CHILD_SA response: N(CHILD_SA_NOT_FOUND)
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        XCTAssertTrue(lab.a.problems.contains { $0.contains("CHILD_SA_NOT_FOUND") })
        XCTAssertEqual(lab.a.deleted, [])
        XCTAssertEqual(lab.a.children.map(\.inboundSPI), [old.inboundSPI])
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
    }

    /// Sends A's PFS rekey, loses B's response and restarts A from its saved
    /// state, with or without the DH private key in it.
    private func restartMidPFSRekey(keepDHKey: Bool) -> (Lab, Gateway) {
        var options = LabConfig.Options()
        options.pfs = "group19"
        let lab = Lab.established(options)
        let old = lab.a.installed[0]
        // A's PFS rekey reaches B, which installs the new pair, but the
        // response is lost and A restarts.
        lab.network = { Lab.describe($0.bytes) == "CREATE_CHILD_SA response 2" ? nil : $0 }
        lab.a.engine.childSAExpiring(inboundSPI: old.inboundSPI, hard: false)
        lab.run()
        XCTAssertEqual(lab.b.installed.count, 2)
        var saved = lab.a.engine.exportStates()
        XCTAssertNotNil(saved.first?.pendingChild?.dhPrivateKey)
        if !keepDHKey { saved[0].pendingChild?.dhPrivateKey = nil }
        let restarted = Gateway(
            name: "A", address: "198.51.100.1", config: LabConfig.text(gateway: "A", options),
            clock: { [unowned lab] in lab.now }, seed: 3, firstSPI: 0xA100_0001)
        restarted.engine.restore(saved)
        lab.a = restarted
        lab.network = { $0 }
        return (lab, restarted)
    }

    func testRestartKeepsDHValue() throws {
        let (lab, restarted) = restartMidPFSRekey(keepDHKey: true)
        let old = try XCTUnwrap(restarted.children.first)
        // A->B CREATE_CHILD_SA request 2 again; B->A the cached response:
        // SA, Nr, KEr, TSi, TSr. A rebuilt its DH key pair, so it installs
        // the new pair; a second later A->B INFORMATIONAL request: D(old SPI).
        lab.advance(1)
        lab.advance(1)
        lab.advance(1)
        XCTAssertEqual(restarted.problems, [])
        XCTAssertEqual(restarted.installed.count, 1)
        XCTAssertEqual(restarted.deleted, [old.inboundSPI])
        XCTAssertEqual(lab.b.deleted, [lab.b.installed[0].inboundSPI])
        XCTAssertEqual(restarted.children.first?.inboundSPI, lab.b.installed[1].outboundSPI)
        XCTAssertEqual(restarted.children.first?.outboundKeys, lab.b.installed[1].inboundKeys)
    }

    func testRestartLosesDHValue() {
        // A state saved before the DH private key was kept.
        let (lab, restarted) = restartMidPFSRekey(keepDHKey: false)
        let old = restarted.children[0]
        // A->B CREATE_CHILD_SA request 2 again; B->A the cached response.
        // A->B INFORMATIONAL request: D(the SPI B sends to), so B drops that pair.
        // A->B CREATE_CHILD_SA request: N(REKEY_SA), SA, Ni, KEi (fresh), TSi, TSr
        lab.advance(1)
        lab.advance(1)
        XCTAssertTrue(restarted.problems.contains { $0.contains("lost its DH value") })
        XCTAssertEqual(lab.b.deleted.first, lab.b.installed[1].inboundSPI)
        XCTAssertEqual(restarted.installed.count, 1)
        XCTAssertEqual(restarted.deleted, [old.inboundSPI])
        XCTAssertEqual(restarted.children.count, 1)
        XCTAssertEqual(lab.b.children.count, 1)
        XCTAssertEqual(restarted.children.first?.inboundSPI, lab.b.children.first?.outboundSPI)
        XCTAssertEqual(restarted.children.first?.outboundKeys, lab.b.children.first?.inboundKeys)
    }
}
