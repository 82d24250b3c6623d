import TaglineCore
import XCTest

@testable import TaglineCrypto

final class PRFTests: XCTestCase {
    func testPlusMatchesHandComputation() throws {
        let key = Array("SKEYSEED stand-in".utf8)
        let seed = Array("Ni | Nr | SPIi | SPIr".utf8)
        for algorithm in PRFAlgorithm.allCases {
            let blockLength = algorithm.outputLength
            // Three blocks, the last one cut short, to check chaining and truncation.
            let length = 2 * blockLength + 5

            // RFC 7296 §2.13: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
            let t1 = try PRF.compute(algorithm, key: key, data: seed + [0x01])
            let t2 = try PRF.compute(algorithm, key: key, data: t1 + seed + [0x02])
            let t3 = try PRF.compute(algorithm, key: key, data: t2 + seed + [0x03])
            let expected = Array((t1 + t2 + t3).prefix(length))

            let output = try PRF.plus(algorithm, key: key, seed: seed, length: length)
            XCTAssertEqualHex(output, expected, algorithm.rawValue)
        }
    }

    func testComputeIsHMAC() throws {
        // PRF_HMAC_SHA2_256 is HMAC-SHA-256: RFC 4231 test case 2.
        let record = try XCTUnwrap(
            VectorFile.load("rfc4231-hmac-sha256.txt").first { try $0.integer("case") == 2 })
        let output = try PRF.compute(
            .hmacSHA256, key: record.bytes("key"), data: record.bytes("data"))
        XCTAssertEqualHex(output, try record.bytes("mac"))
    }

    func testPlusPrefixIsStable() throws {
        // A shorter prf+ output is a prefix of a longer one with the same inputs.
        let long = try PRF.plus(.hmacSHA1, key: [1, 2, 3], seed: [4, 5, 6], length: 100)
        let short = try PRF.plus(.hmacSHA1, key: [1, 2, 3], seed: [4, 5, 6], length: 33)
        XCTAssertEqual(long.count, 100)
        XCTAssertEqualHex(short, Array(long.prefix(33)))
    }

    func testPlusZeroLength() throws {
        XCTAssertEqualHex(try PRF.plus(.hmacSHA256, key: [1], seed: [2], length: 0), [])
    }

    func testPlusAcceptsMaximumLength() throws {
        let length = PRF.maxPlusBlocks * PRFAlgorithm.hmacSHA256.outputLength
        XCTAssertEqual(
            try PRF.plus(.hmacSHA256, key: [1], seed: [2], length: length).count, length)
    }

    func testPlusRejectsTooLong() {
        let length = PRF.maxPlusBlocks * PRFAlgorithm.hmacSHA256.outputLength + 1
        XCTAssertThrowsError(try PRF.plus(.hmacSHA256, key: [1], seed: [2], length: length)) {
            guard case .invalidLength = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
    }

    func testPlusRejectsNegativeLength() {
        XCTAssertThrowsError(try PRF.plus(.hmacSHA1, key: [1], seed: [2], length: -1))
    }
}
