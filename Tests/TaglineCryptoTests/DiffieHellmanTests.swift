import COpenSSL
import TaglineCore
import XCTest

@testable import TaglineCrypto

final class DiffieHellmanTests: XCTestCase {
    func testRFC5903ECPExchanges() throws {
        let files: [(String, DHGroup)] = [
            ("rfc5903-ecp256.txt", .ecp256), ("rfc5903-ecp384.txt", .ecp384),
            ("rfc5903-ecp521.txt", .ecp521),
        ]
        for (file, group) in files {
            let record = try XCTUnwrap(VectorFile.load(file).first, file)

            // Initiator and responder each rebuild their key pair from the RFC's private keys.
            let initiator = try DiffieHellman(group: group, privateKey: record.bytes("i"))
            let responder = try DiffieHellman(group: group, privateKey: record.bytes("r"))
            XCTAssertEqualHex(
                initiator.publicValue, try record.bytes("gix") + record.bytes("giy"), file)
            XCTAssertEqualHex(
                responder.publicValue, try record.bytes("grx") + record.bytes("gry"), file)

            // Initiator -> responder: KEi. Responder -> initiator: KEr. Both reach girx.
            let girx = try record.bytes("girx")
            XCTAssertEqualHex(
                try initiator.computeSharedSecret(peerPublicValue: responder.publicValue), girx,
                file)
            XCTAssertEqualHex(
                try responder.computeSharedSecret(peerPublicValue: initiator.publicValue), girx,
                file)
        }
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
            XCTAssertEqual(initiatorSecret.count, sharedSecretLength(group), "\(group)")
        }
    }

    func testExportedKeyRebuildsPair() throws {
        for group in DHGroup.allCases {
            let original = try DiffieHellman(group: group)
            let exported = try original.exportPrivateKey()
            let rebuilt = try DiffieHellman(group: group, privateKey: exported.bytes)
            XCTAssertEqual(rebuilt.publicValue, original.publicValue, "group \(group)")

            // Both compute the same secret with a third key pair.
            let peer = try DiffieHellman(group: group)
            XCTAssertEqual(
                try rebuilt.computeSharedSecret(peerPublicValue: peer.publicValue),
                try original.computeSharedSecret(peerPublicValue: peer.publicValue),
                "group \(group)")
        }
    }

    func testMODPPrimesMatchRFCText() throws {
        let records = try VectorFile.load("modp-primes.txt")
        XCTAssertEqual(records.map { try? $0.integer("group") }, [2, 5, 14, 15])
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
        for group in modpGroups {
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
        // every one of these primes (p = 7 mod 8), so it is outside the
        // subgroup of order q that g = 2 generates.
        for group in modpGroups {
            let side = try DiffieHellman(group: group)
            var primeMinusTwo = try MODPDomain(group: group).prime
            primeMinusTwo[primeMinusTwo.count - 1] -= 2
            XCTAssertThrowsError(try side.computeSharedSecret(peerPublicValue: primeMinusTwo)) {
                XCTAssertEqual($0 as? CryptoError, .invalidPeerPublicValue, "\(group)")
            }
        }
    }

    func testECPRejectsBadPoints() throws {
        // The field prime p of each curve: P-256 2^256 - 2^224 + 2^192 + 2^96 - 1,
        // P-384 2^384 - 2^128 - 2^96 + 2^32 - 1, P-521 2^521 - 1.
        let cases: [(String, DHGroup, String)] = [
            (
                "rfc5903-ecp256.txt", .ecp256,
                "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"
            ),
            (
                "rfc5903-ecp384.txt", .ecp384,
                "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe"
                    + "ffffffff0000000000000000ffffffff"
            ),
            ("rfc5903-ecp521.txt", .ecp521, "01" + String(repeating: "ff", count: 65)),
        ]
        for (file, group, primeHex) in cases {
            let record = try XCTUnwrap(VectorFile.load(file).first, file)
            let side = try DiffieHellman(group: group)
            let valid = try record.bytes("grx") + record.bytes("gry")
            let coordinate = valid.count / 2
            let fieldPrime = try XCTUnwrap(Hex.decode(primeHex), file)
            XCTAssertEqual(fieldPrime.count, coordinate, file)

            var offCurve = valid
            offCurve[valid.count - 1] ^= 0x01
            // x = p is not a valid coordinate even though y is unchanged.
            let badValues: [(String, [UInt8])] = [
                ("off curve", offCurve),
                ("x = p", fieldPrime + valid.suffix(coordinate)),
                ("zeros", [UInt8](repeating: 0, count: valid.count)),
                ("with 0x04 prefix", [0x04] + valid),
                ("x only", Array(valid.prefix(coordinate))),
            ]
            for (name, value) in badValues {
                XCTAssertThrowsError(
                    try side.computeSharedSecret(peerPublicValue: value), "\(file) \(name)"
                ) {
                    XCTAssertEqual($0 as? CryptoError, .invalidPeerPublicValue, "\(file) \(name)")
                }
            }
            XCTAssertEqual(
                try side.computeSharedSecret(peerPublicValue: valid).count, coordinate, file)
        }
    }

    func testX25519SingleMultiplications() throws {
        // X25519(scalar, u): the scalar is the private key and u the peer's value.
        let records = try VectorFile.load("rfc7748-x25519.txt")
        let singles = records.filter { $0.optional("case")?.hasPrefix("scalar-") == true }
        XCTAssertEqual(singles.count, 2)
        for record in singles {
            let side = try DiffieHellman(group: .curve25519, privateKey: record.bytes("scalar"))
            XCTAssertEqualHex(
                try side.computeSharedSecret(peerPublicValue: record.bytes("u")),
                try record.bytes("output"), record.location)
        }
    }

    func testX25519IteratedVector() throws {
        let record = try XCTUnwrap(
            VectorFile.load("rfc7748-x25519.txt").first { $0.optional("case") == "iterated" })
        var k = try record.bytes("start")
        var u = k
        for iteration in 1...1000 {
            let result = try DiffieHellman(group: .curve25519, privateKey: k)
                .computeSharedSecret(peerPublicValue: u)
            u = k
            k = result
            if iteration == 1 { XCTAssertEqualHex(k, try record.bytes("after1")) }
        }
        XCTAssertEqualHex(k, try record.bytes("after1000"))
    }

    func testX25519DiffieHellmanExample() throws {
        let record = try XCTUnwrap(
            VectorFile.load("rfc7748-x25519.txt").first {
                $0.optional("case") == "diffie-hellman"
            })

        // Initiator (Alice) and responder (Bob) rebuild their key pairs; the KE
        // data of each is the public value RFC 7748 prints.
        let alice = try DiffieHellman(group: .curve25519, privateKey: record.bytes("a"))
        let bob = try DiffieHellman(group: .curve25519, privateKey: record.bytes("b"))
        XCTAssertEqualHex(alice.publicValue, try record.bytes("alicePublic"))
        XCTAssertEqualHex(bob.publicValue, try record.bytes("bobPublic"))

        // Alice -> Bob: KEi. Bob -> Alice: KEr. Both reach K.
        let shared = try record.bytes("K")
        XCTAssertEqualHex(try alice.computeSharedSecret(peerPublicValue: bob.publicValue), shared)
        XCTAssertEqualHex(try bob.computeSharedSecret(peerPublicValue: alice.publicValue), shared)
    }

    func testX25519RejectsLowOrderValues() throws {
        // u = 0, u = 1 and u = p - 1 (little-endian, p = 2^255 - 19) have order
        // 1, 4 and 2; the clamped scalar is a multiple of 8, so each gives an
        // all-zero secret.
        var pMinusOne = [UInt8](repeating: 0xFF, count: 32)
        pMinusOne[0] = 0xEC
        pMinusOne[31] = 0x7F
        let cases: [(String, [UInt8])] = [
            ("0", [UInt8](repeating: 0, count: 32)),
            ("1", [1] + [UInt8](repeating: 0, count: 31)),
            ("p-1", pMinusOne),
            ("short", [UInt8](repeating: 9, count: 31)),
            ("long", [UInt8](repeating: 9, count: 33)),
        ]
        let side = try DiffieHellman(group: .curve25519)
        for (name, value) in cases {
            XCTAssertThrowsError(try side.computeSharedSecret(peerPublicValue: value), name) {
                XCTAssertEqual($0 as? CryptoError, .invalidPeerPublicValue, name)
            }
        }
        // The rejections leave no OpenSSL error queued.
        XCTAssertEqual(ERR_peek_error(), 0)
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
        XCTAssertThrowsError(
            try DiffieHellman(group: .ecp521, privateKey: [UInt8](repeating: 1, count: 65))
        ) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 66, actual: 65))
        }
        // 2^528 - 1 exceeds the P-521 order although it fits the 66-byte length.
        XCTAssertThrowsError(
            try DiffieHellman(group: .ecp521, privateKey: [UInt8](repeating: 0xFF, count: 66))
        ) {
            guard case .invalidArgument = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
        XCTAssertThrowsError(
            try DiffieHellman(group: .curve25519, privateKey: [UInt8](repeating: 1, count: 31))
        ) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 32, actual: 31))
        }
    }

    private let modpGroups: [DHGroup] = [.modp1024, .modp1536, .modp2048, .modp3072]

    /// g^ir length: the prime length for MODP, one coordinate for ECP, 32 for X25519.
    private func sharedSecretLength(_ group: DHGroup) -> Int {
        switch group {
        case .modp1024, .modp1536, .modp2048, .modp3072: return group.publicValueLength
        case .ecp256, .ecp384, .ecp521: return group.publicValueLength / 2
        case .curve25519: return 32
        }
    }
}
