// DH groups 5, 15, 20, 21 and 31 and ENCR_CHACHA20_POLY1305 negotiated end to
// end by two engines, and the ChaCha20-Poly1305 rules of proposal selection:
// no integrity transform (RFC 7634 §4) and no Key Length attribute, because
// the key length is fixed (RFC 7296 §3.3.5).

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class CryptoChoicesTests: XCTestCase {
    /// Runs A -> B until both sides are up, recording every datagram in flight.
    private func negotiate(ikeProposal: String, transformSet: String) -> (Lab, [[UInt8]]) {
        var options = LabConfig.Options()
        options.ikeProposal = ikeProposal
        options.transformSet = transformSet
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", options),
            configB: LabConfig.text(gateway: "B", options))
        var wire: [[UInt8]] = []
        lab.network = { datagram in
            wire.append(datagram.bytes)
            return datagram
        }
        lab.a.engine.start()
        lab.run()
        return (lab, wire)
    }

    /// Returns the IKE SA state of one gateway, which has exactly one in these tests.
    private func ikeSA(_ gateway: Gateway) throws -> IKESAState {
        XCTAssertEqual(gateway.engine.ikeSAs.count, 1, gateway.name)
        return try XCTUnwrap(gateway.engine.ikeSAs.values.first, gateway.name)
    }

    func testEachNewGroupNegotiates() throws {
        for group in [DHGroup.modp1536, .modp3072, .ecp384, .ecp521, .curve25519] {
            let (lab, wire) = negotiate(
                ikeProposal: "encryption aes-cbc-256\n integrity sha256\n group \(group.rawValue)",
                transformSet: "esp-aes 256 esp-sha256-hmac")
            XCTAssertEqual(
                lab.transcript,
                [
                    "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0",
                    "A IKE_AUTH request 1", "B IKE_AUTH response 1",
                ], "\(group)")

            // A -> B IKE_SA_INIT: KEi in the group, with the public value length of RFC 5903
            // §7 (ECP) or RFC 8031 (Curve25519).
            let request = try ReceivedMessage.decode(XCTUnwrap(wire.first)).clearMessage
            let ke = try XCTUnwrap(
                request.payloads.lazy.compactMap { payload -> KEPayload? in
                    if case .keyExchange(let ke) = payload { return ke } else { return nil }
                }.first, "\(group)")
            XCTAssertEqual(ke.groupNumber, group.rawValue)
            XCTAssertEqual(ke.keyExchangeData.count, group.publicValueLength, "\(group)")

            let status = try XCTUnwrap(lab.a.ready.first, "IKE SA with group \(group)")
            XCTAssertEqual(status.dhGroup, Int(group.rawValue))
            XCTAssertEqual(try XCTUnwrap(lab.b.ready.first).dhGroup, Int(group.rawValue))

            // Both sides derived the same seven SK keys from g^ir.
            let keysA = try XCTUnwrap(ikeSA(lab.a).keys, "\(group)")
            let keysB = try XCTUnwrap(ikeSA(lab.b).keys, "\(group)")
            XCTAssertEqual(keysA, keysB, "\(group)")
            XCTAssertEqual(keysA.initiatorEncryption.bytes.count, 32, "\(group)")

            let childA = try XCTUnwrap(lab.a.installed.first, "Child SA with group \(group)")
            let childB = try XCTUnwrap(lab.b.installed.first)
            XCTAssertEqual(childA.outboundKeys, childB.inboundKeys, "\(group)")
            XCTAssertEqual(childA.inboundKeys, childB.outboundKeys, "\(group)")
        }
    }

    func testChaChaProtectsIKESAAndESP() throws {
        let (lab, wire) = negotiate(
            ikeProposal: "encryption chacha20-poly1305\n prf sha256\n group 31",
            transformSet: "esp-chacha20-poly1305")
        XCTAssertEqual(lab.transcript.count, 4, "\(lab.transcript)")

        // A -> B IKE_SA_INIT: one proposal of ENCR 28 without a Key Length
        // attribute, PRF_HMAC_SHA2_256, DH group 31 and no INTEG transform.
        let request = try ReceivedMessage.decode(XCTUnwrap(wire.first)).clearMessage
        let ikeOffer = try XCTUnwrap(saPayload(request)?.proposals.first)
        XCTAssertEqual(ikeOffer.transforms(of: .encryption), [Transform(type: .encryption, id: 28)])
        XCTAssertEqual(ikeOffer.transforms(of: .integrity), [])
        XCTAssertEqual(ikeOffer.transforms(of: .diffieHellman).map(\.id), [31])

        let status = try XCTUnwrap(lab.a.ready.first)
        XCTAssertEqual(status.encryption, "CHACHA20-POLY1305, keysize: 256")
        XCTAssertEqual(status.integrity, "None")
        XCTAssertEqual(status.dhGroup, 31)
        let saA = try ikeSA(lab.a)
        let saB = try ikeSA(lab.b)
        XCTAssertEqual(saA.algorithms?.encryption, .chacha20Poly1305)
        XCTAssertNil(saA.algorithms?.integrity)
        XCTAssertEqual(saB.algorithms, saA.algorithms)

        // SK_e is the 32-byte key plus the 4-byte salt; there is no SK_a.
        let keys = try XCTUnwrap(saA.keys)
        XCTAssertEqual(saB.keys, keys)
        XCTAssertEqual(keys.initiatorEncryption.bytes.count, 36)
        XCTAssertEqual(keys.responderEncryption.bytes.count, 36)
        XCTAssertEqual(keys.initiatorIntegrity.bytes, [])
        XCTAssertNotEqual(keys.initiatorEncryption, keys.responderEncryption)

        // A -> B IKE_AUTH: an SK payload whose 8-byte IV and 16-byte tag wrap the
        // inner payloads; its ESP proposal also carries ENCR 28 without a Key
        // Length attribute and no INTEG transform.
        let auth = try ReceivedMessage.decode(XCTUnwrap(wire.dropFirst(2).first))
        let skKeys = keys.protection(
            ofInitiator: true, encryption: .chacha20Poly1305, integrity: nil)
        XCTAssertEqual(skKeys.ivLength, 8)
        XCTAssertEqual(skKeys.checksumLength, 16)
        let inner = try auth.decrypt(with: skKeys)
        let espOffer = try XCTUnwrap(saPayload(inner)?.proposals.first)
        XCTAssertEqual(espOffer.transforms(of: .encryption), [Transform(type: .encryption, id: 28)])
        XCTAssertEqual(espOffer.transforms(of: .integrity), [])

        // The Child SA: ChaCha20-Poly1305 keys of 36 bytes each way, equal on both sides.
        let childA = try XCTUnwrap(lab.a.installed.first)
        let childB = try XCTUnwrap(lab.b.installed.first)
        XCTAssertEqual(childA.encryption, .chacha20Poly1305)
        XCTAssertNil(childA.integrity)
        XCTAssertEqual(childA.transformDescription, "esp-chacha20-poly1305")
        XCTAssertEqual(childA.outboundKeys.encryptionKey.bytes.count, 36)
        XCTAssertEqual(childA.outboundKeys.integrityKey.bytes, [])
        XCTAssertEqual(childA.outboundKeys, childB.inboundKeys)
        XCTAssertEqual(childA.inboundKeys, childB.outboundKeys)
        XCTAssertNotEqual(childA.outboundKeys, childA.inboundKeys)
    }

    func testChaChaAndGCMProposalPicksResponderChoice() throws {
        // A offers ChaCha20-Poly1305 and AES-GCM-256 in one proposal; B accepts
        // only AES-GCM-256, so the AEAD proposal still matches.
        var optionsA = LabConfig.Options()
        optionsA.ikeProposal = "encryption chacha20-poly1305 aes-gcm-256\n prf sha256\n group 20"
        var optionsB = LabConfig.Options()
        optionsB.ikeProposal = "encryption aes-gcm-256\n prf sha256\n group 20"
        let lab = Lab(
            configA: LabConfig.text(gateway: "A", optionsA),
            configB: LabConfig.text(gateway: "B", optionsB))
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(try XCTUnwrap(lab.a.ready.first).encryption, "AES-GCM, keysize: 256")
        XCTAssertEqual(try XCTUnwrap(lab.a.ready.first).dhGroup, 20)
    }

    func testChaChaSelectionRules() {
        var configured = IKEv2Proposal(name: "p", line: 1)
        configured.encryption = [.chacha20Poly1305]
        configured.prf = [.hmacSHA256]
        configured.groups = [.curve25519, .ecp521]
        let encryption = Transform(type: .encryption, id: 28)
        let prf = Transform(type: .prf, id: 5)
        let group = Transform(type: .diffieHellman, id: 31)

        // ENCR 28 with PRF and DH, optionally with INTEG NONE (RFC 7634 §4), is accepted.
        for extra in [[], [Transform(type: .integrity, id: 0)]] {
            let offer = Proposal(
                number: 1, protocol: .ike, spi: [], transforms: [encryption, prf, group] + extra)
            let chosen = ProposalSelection.chooseIKE(
                offered: [offer], configured: [configured], keGroup: 31)
            XCTAssertEqual(chosen?.0.encryption, .chacha20Poly1305, "\(extra)")
            XCTAssertNil(chosen?.0.integrity)
            XCTAssertEqual(chosen?.0.dhGroup, .curve25519)
            XCTAssertEqual(chosen?.1.transforms(of: .encryption), [encryption])
        }

        // A real INTEG transform, or a Key Length attribute on ENCR 28, makes the
        // proposal unacceptable.
        let rejected: [(String, [Transform])] = [
            (
                "with HMAC-SHA2-256-128",
                [encryption, prf, Transform(type: .integrity, id: 12), group]
            ),
            (
                "with key length 256",
                [Transform(type: .encryption, id: 28, keyLength: 256), prf, group]
            ),
        ]
        for (name, transforms) in rejected {
            let offer = Proposal(number: 1, protocol: .ike, spi: [], transforms: transforms)
            XCTAssertNil(
                ProposalSelection.chooseIKE(
                    offered: [offer], configured: [configured], keGroup: 31),
                name)
        }
    }

    func testChaChaESPSelectionNeedsNoIntegrity() {
        let set = ESPTransform(
            TransformSet(
                name: "ts", encryption: .chacha20Poly1305, integrity: nil,
                description: "esp-chacha20-poly1305", line: 1))
        let offer = Proposal(
            number: 1, protocol: .esp, spi: [0xC0, 0, 0, 1],
            transforms: ProposalSelection.espTransforms(set))
        XCTAssertEqual(
            offer.transforms,
            [
                Transform(type: .encryption, id: 28),
                Transform(type: .extendedSequenceNumbers, id: 0),
            ])
        let chosen = ProposalSelection.chooseESP(
            offered: [offer], transforms: [set], ourSPI: 0xD000_0001)
        XCTAssertEqual(chosen?.0, set)
        XCTAssertEqual(chosen?.peerSPI, 0xC000_0001)
    }

    private func saPayload(_ message: IKEMessage) -> SAPayload? {
        message.payloads.lazy.compactMap { payload -> SAPayload? in
            if case .securityAssociation(let sa) = payload { return sa } else { return nil }
        }.first
    }
}
