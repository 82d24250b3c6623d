import TaglineCore
import XCTest

@testable import TaglineCrypto

final class DiffieHellmanTests: XCTestCase {
    func testRFC5903ECP256Exchange() throws {
        let record = try XCTUnwrap(VectorFile.load("rfc5903-ecp256.txt").first)

        // Initiator and responder each rebuild their key pair from the RFC's private keys.
        let initiator = try DiffieHellman(group: .ecp256, privateKey: record.bytes("i"))
        let responder = try DiffieHellman(group: .ecp256, privateKey: record.bytes("r"))
        XCTAssertEqualHex(initiator.publicValue, try record.bytes("gix") + record.bytes("giy"))
        XCTAssertEqualHex(responder.publicValue, try record.bytes("grx") + record.bytes("gry"))

        // Initiator -> responder: KEi. Responder -> initiator: KEr. Both reach girx.
        let girx = try record.bytes("girx")
        XCTAssertEqualHex(
            try initiator.computeSharedSecret(peerPublicValue: responder.publicValue), girx)
        XCTAssertEqualHex(
            try responder.computeSharedSecret(peerPublicValue: initiator.publicValue), girx)
    }

    func testFreshKeysAgreeInEveryGroup() throws {
        for group in DHGroup.allCases {
            let initiator = try DiffieHellman(group: group)
            let responder = try DiffieHellman(group: group)
            XCTAssertEqual(initiator.group, group)
            XCTAssertEqual(initiator.publicValue.count, group.publicValueLength, "\(group)")
            XCTAssertNotEqual(initiator.publicValue, responder.publicValue, "\(group)")

            let initiatorSecret = try initiator.computeSharedSecret(
                peerPublicValue: responder.publicValue)
            let responderSecret = try responder.computeSharedSecret(
                peerPublicValue: initiator.publicValue)
            XCTAssertEqualHex(initiatorSecret, responderSecret, "\(group)")
            let expectedLength = group == .ecp256 ? 32 : group.publicValueLength
            XCTAssertEqual(initiatorSecret.count, expectedLength, "\(group)")
        }
    }

    func testMODPPrimesMatchRFCText() throws {
        let records = try VectorFile.load("modp-primes.txt")
        XCTAssertEqual(records.count, 2)
        for record in records {
            let group = try XCTUnwrap(DHGroup(rawValue: UInt16(record.integer("group"))))
            let domain = try MODPDomain(group: group)
            let prime = try record.bytes("prime")
            XCTAssertEqualHex(domain.prime, prime, record.location)
            XCTAssertEqual(domain.primeLength, group.publicValueLength, record.location)
        }
    }

    func testMODPSmallExponentsKnownAnswer() throws {
        // With g = 2: x = 2 gives 2^2 = 4, and the peer's y = 4 raised to
        // x = 3 gives 4^3 = 64, small enough to check by hand, left-padded
        // to the prime length.
        for group in [DHGroup.modp1024, .modp2048] {
            let length = group.publicValueLength
            let side = try DiffieHellman(group: group, privateKey: [3])
            let peer = try DiffieHellman(group: group, privateKey: [2])
            XCTAssertEqual(peer.publicValue, [UInt8](repeating: 0, count: length - 1) + [4])
            let secret = try side.computeSharedSecret(peerPublicValue: peer.publicValue)
            XCTAssertEqual(secret, [UInt8](repeating: 0, count: length - 1) + [64], "\(group)")
        }
    }

    func testMODPRejectsOutOfRangeValues() throws {
        let side = try DiffieHellman(group: .modp1024)
        let length = DHGroup.modp1024.publicValueLength
        let prime = try MODPDomain(group: .modp1024).prime
        var primeMinusOne = prime
        primeMinusOne[length - 1] -= 1
        let zero = [UInt8](repeating: 0, count: length)
        let one = [UInt8](repeating: 0, count: length - 1) + [1]
        let allOnes = [UInt8](repeating: 0xFF, count: length)
        let cases: [(String, [UInt8])] = [
            ("0", zero), ("1", one), ("p-1", primeMinusOne), ("p", prime), ("2^1024-1", allOnes),
            ("short", Array(side.publicValue.dropFirst())),
            ("long", [0] + side.publicValue),
        ]
        for (name, value) in cases {
            XCTAssertThrowsError(try side.computeSharedSecret(peerPublicValue: value), name) {
                XCTAssertEqual($0 as? CryptoError, .invalidPeerPublicValue, name)
            }
        }
    }

    func testMODPRejectsNonSubgroupValue() throws {
        // p - 2 = -2 mod p lies in range but is a quadratic non-residue for
        // both primes (p = 7 mod 8), so it is outside the subgroup of order q
        // that g = 2 generates.
        for group in [DHGroup.modp1024, .modp2048] {
            let side = try DiffieHellman(group: group)
            var primeMinusTwo = try MODPDomain(group: group).prime
            primeMinusTwo[primeMinusTwo.count - 1] -= 2
            XCTAssertThrowsError(try side.computeSharedSecret(peerPublicValue: primeMinusTwo)) {
                XCTAssertEqual($0 as? CryptoError, .invalidPeerPublicValue, "\(group)")
            }
        }
    }

    func testECPRejectsBadPoints() throws {
        let record = try XCTUnwrap(VectorFile.load("rfc5903-ecp256.txt").first)
        let side = try DiffieHellman(group: .ecp256)
        let valid = try record.bytes("grx") + record.bytes("gry")

        var offCurve = valid
        offCurve[63] ^= 0x01
        // x = p (the field prime) is not a valid coordinate even though y is unchanged.
        let fieldPrime = try XCTUnwrap(
            Hex.decode("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"))
        let cases: [(String, [UInt8])] = [
            ("off curve", offCurve),
            ("x = p", fieldPrime + valid.suffix(32)),
            ("zeros", [UInt8](repeating: 0, count: 64)),
            ("with 0x04 prefix", [0x04] + valid),
            ("x only", Array(valid.prefix(32))),
        ]
        for (name, value) in cases {
            XCTAssertThrowsError(try side.computeSharedSecret(peerPublicValue: value), name) {
                XCTAssertEqual($0 as? CryptoError, .invalidPeerPublicValue, name)
            }
        }
        XCTAssertEqual(try side.computeSharedSecret(peerPublicValue: valid).count, 32)
    }

    func testRejectsInvalidPrivateKeys() throws {
        let order = try XCTUnwrap(
            Hex.decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"))
        XCTAssertThrowsError(try DiffieHellman(group: .ecp256, privateKey: order)) {
            guard case .invalidArgument = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
        XCTAssertThrowsError(
            try DiffieHellman(group: .ecp256, privateKey: [UInt8](repeating: 0, count: 32)))
        XCTAssertThrowsError(try DiffieHellman(group: .ecp256, privateKey: [1, 2, 3])) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 32, actual: 3))
        }
        XCTAssertThrowsError(try DiffieHellman(group: .modp1024, privateKey: [0]))
        XCTAssertThrowsError(
            try DiffieHellman(group: .modp1024, privateKey: [UInt8](repeating: 0xFF, count: 129)))
    }
}
