// SA payload: proposals, transforms and the Key Length attribute.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class SAPayloadCodecTests: XCTestCase {
    /// One IKE proposal: AES-CBC-128, PRF-HMAC-SHA2-256, HMAC-SHA2-256-128, group 19.
    private let saBody = """
        00 00 002c        // proposal: last, length 44
        01 01 00 04       // proposal 1, protocol IKE, SPI size 0, 4 transforms
        03 00 000c        // transform: more follow, length 12
        01 00 000c        //   type ENCR, ID 12 (AES-CBC)
        800e 0080         //   attribute Key Length (TV) = 128
        03 00 0008        // transform: more follow, length 8
        02 00 0005        //   type PRF, ID 5 (HMAC-SHA2-256)
        03 00 0008        // transform: more follow, length 8
        03 00 000c        //   type INTEG, ID 12 (HMAC-SHA2-256-128)
        00 00 0008        // transform: last, length 8
        04 00 0013        //   type DH, ID 19 (ECP-256)
        """

    private func decode(_ body: [UInt8]) throws -> SAPayload {
        var reader = ByteReader(body)
        return try SAPayload.decodeBody(&reader)
    }

    func testProposalDecodes() throws {
        let payload = try decode(hexBytes(saBody))
        XCTAssertEqual(payload.proposals.count, 1)
        let proposal = payload.proposals[0]
        XCTAssertEqual(proposal.number, 1)
        XCTAssertEqual(proposal.securityProtocol, .ike)
        XCTAssertEqual(
            proposal.transforms,
            [
                Transform(type: .encryption, id: 12, keyLength: 128),
                Transform(type: .prf, id: 5),
                Transform(type: .integrity, id: 12),
                Transform(type: .diffieHellman, id: 19),
            ])
    }

    func testProposalRoundTrips() throws {
        let payload = try decode(hexBytes(saBody))
        var writer = ByteWriter()
        payload.encodeBody(into: &writer)
        XCTAssertEqual(writer.bytes, hexBytes(saBody))
    }

    func testESPProposalCarriesSPI() throws {
        let body = hexBytes(
            """
            00 00 0020        // proposal: last, length 32
            01 03 04 03       // proposal 1, protocol ESP, SPI size 4, 3 transforms
            c0a80001          // SPI
            03 00 000c        // transform: more follow, length 12
            01 00 0014        //   ENCR 20 (AES-GCM-16)
            800e 0100         //   Key Length 256
            00 00 0008        // transform: last, length 8
            05 00 0000        //   ESN 0 (no ESN)
            """)
        // The proposal claims 3 transforms but contains 2.
        XCTAssertThrowsError(try decode(body)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidValue(field: "number of transforms", offset: 7, value: 3))
        }
        var fixed = body
        fixed[7] = 2
        let proposal = try decode(fixed).proposals[0]
        XCTAssertEqual(proposal.espSPI, 0xC0A8_0001)
        XCTAssertEqual(proposal.transforms(of: .encryption).first?.keyLength, 256)
    }

    func testTransformLengthWithTopBitSet() {
        var body = hexBytes(saBody)
        body[10] = 0x80  // first transform length 0x800c
        XCTAssertThrowsError(try decode(body)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "transform length", offset: 10, value: 0x800C))
        }
    }

    func testProposalLengthPastPayload() {
        var body = hexBytes(saBody)
        body[3] = 0x40  // proposal length 64, payload has 44 bytes
        XCTAssertThrowsError(try decode(body)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "proposal length", offset: 2, value: 64))
        }
    }

    func testTruncatedProposalNamesLength() {
        let body = Array(hexBytes(saBody).prefix(42))
        XCTAssertThrowsError(try decode(body)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "proposal length", offset: 2, value: 44))
        }
    }

    func testUnknownAttributeMarksTransform() throws {
        var body = hexBytes(saBody)
        body[16] = 0x80
        body[17] = 0x10  // attribute type 16 in place of Key Length
        let transform = try decode(body).proposals[0].transforms[0]
        XCTAssertTrue(transform.hasUnknownAttributes)
        XCTAssertNil(transform.keyLength)
    }

    func testProposalNumbersMustIncrease() throws {
        let proposal = Proposal(
            number: 1, protocol: .ike, spi: [], transforms: [Transform(type: .prf, id: 5)])
        var second = proposal
        second.number = 3
        var writer = ByteWriter()
        SAPayload(proposals: [proposal, second]).encodeBody(into: &writer)
        XCTAssertThrowsError(try decode(writer.bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidValue(field: "proposal number", offset: 20, value: 3))
        }
    }

    func testResponderChoosesFromOffer() throws {
        // The peer offers 3DES/MD5 first and AES-CBC-128/SHA-256 second.
        var weak = IKEv2ProposalFixture.make(
            encryption: [.tripleDES], integrity: [.hmacMD5_96],
            prf: [.hmacMD5], groups: [.modp1024])
        let offered =
            ProposalSelection.ikeProposals([weak])
            + ProposalSelection.ikeProposals([IKEv2ProposalFixture.lab]).map {
                var next = $0
                next.number = 2
                return next
            }
        weak.name = "unused"
        let chosen = ProposalSelection.chooseIKE(
            offered: offered, configured: [IKEv2ProposalFixture.lab], keGroup: 19)
        let (algorithms, proposal) = try XCTUnwrap(chosen)
        XCTAssertEqual(algorithms.encryption, .aesCBC128)
        XCTAssertEqual(algorithms.integrity, .hmacSHA256_128)
        XCTAssertEqual(algorithms.dhGroup, .ecp256)
        XCTAssertEqual(proposal.number, 2)
        XCTAssertEqual(
            try ProposalSelection.acceptIKE(
                response: SAPayload(proposals: [proposal]), offered: offered), algorithms)
    }
}

enum IKEv2ProposalFixture {
    static func make(
        encryption: [EncryptionAlgorithm], integrity: [IntegrityAlgorithm],
        prf: [PRFAlgorithm], groups: [DHGroup]
    ) -> IKEv2Proposal {
        var proposal = IKEv2Proposal(name: "fixture", line: 1)
        proposal.encryption = encryption
        proposal.integrity = integrity
        proposal.prf = prf
        proposal.groups = groups
        return proposal
    }

    static let lab = make(
        encryption: [.aesCBC128], integrity: [.hmacSHA256_128],
        prf: [.hmacSHA256], groups: [.ecp256])
}
