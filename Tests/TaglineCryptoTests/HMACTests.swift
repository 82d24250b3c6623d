import TaglineCore
import XCTest

@testable import TaglineCrypto

final class HMACTests: XCTestCase {
    func testRFC4231SHA256Cases() throws {
        let records = try VectorFile.load("rfc4231-hmac-sha256.txt")
        XCTAssertEqual(records.map { try? $0.integer("case") }, [1, 2, 3, 4, 5, 6, 7])
        for record in records {
            let expected = try record.bytes("mac")
            let key = try record.bytes("key")
            let data = try record.bytes("data")
            let mac = try HMACContext.authenticate(prf: .hmacSHA256, key: key, data: data)
            XCTAssertEqual(mac.count, 32, record.location)
            if let truncate = record.optional("truncate") {
                // Case 5 publishes only the leftmost 128 bits.
                XCTAssertEqual(Int(truncate), expected.count, record.location)
                XCTAssertEqualHex(Array(mac.prefix(expected.count)), expected, record.location)
            } else {
                XCTAssertEqualHex(mac, expected, record.location)
            }
        }
    }

    func testRFC4231Case5TruncatedFinalize() throws {
        let record = try XCTUnwrap(
            VectorFile.load("rfc4231-hmac-sha256.txt").first { try $0.integer("case") == 5 })
        // The RFC's 20-byte key does not fit AUTH_HMAC_SHA2_256_128 (32 bytes),
        // so the PRF form of the context runs the truncation.
        let hmac = try HMACContext(prf: .hmacSHA256, key: record.bytes("key"))
        hmac.update(try record.bytes("data"))
        var icv = [UInt8](repeating: 0xEE, count: 16)
        icv.withUnsafeMutableBytes { hmac.finalize(into: $0) }
        XCTAssertEqualHex(icv, try record.bytes("mac"))
    }

    func testRFC2202MD5AndSHA1Cases() throws {
        let records = try VectorFile.load("rfc2202-hmac-md5-sha1.txt")
        XCTAssertEqual(records.count, 6)
        for record in records {
            let algorithm: PRFAlgorithm
            switch try record.raw("hash") {
            case "md5": algorithm = .hmacMD5
            case "sha1": algorithm = .hmacSHA1
            case let other: throw VectorFileError(description: "unknown hash \(other)")
            }
            let mac = try HMACContext.authenticate(
                prf: algorithm, key: record.bytes("key"), data: record.bytes("data"))
            XCTAssertEqualHex(mac, try record.bytes("digest"), record.location)
        }
    }

    func testContextReusedAcrossMACs() throws {
        let key = Array(repeating: UInt8(0x0b), count: 20)
        let hmac = try HMACContext(prf: .hmacSHA256, key: key)
        let expected = try HMACContext.authenticate(
            prf: .hmacSHA256, key: key, data: Array("Hi There".utf8))
        for _ in 0..<3 {
            hmac.update(Array("Hi ".utf8))
            hmac.update(Array("There".utf8))
            XCTAssertEqualHex(hmac.finalize(), expected)
        }
    }

    func testResetDropsPartialInput() throws {
        let key = Array(repeating: UInt8(0x0b), count: 20)
        let hmac = try HMACContext(prf: .hmacSHA256, key: key)
        hmac.update(Array("garbage".utf8))
        hmac.reset()
        hmac.reset()
        hmac.update(Array("Hi There".utf8))
        XCTAssertEqualHex(
            hmac.finalize(),
            try HMACContext.authenticate(prf: .hmacSHA256, key: key, data: Array("Hi There".utf8)))
    }

    func testIntegrityICVIsPrefix() throws {
        for algorithm in IntegrityAlgorithm.allCases {
            let key = (0..<algorithm.keyLength).map { UInt8($0) }
            let hmac = try HMACContext(integrity: algorithm, key: key)
            let data = Array("ESP header and payload".utf8)
            hmac.update(data)
            let full = hmac.finalize()
            hmac.update(data)
            var icv = [UInt8](repeating: 0, count: algorithm.icvLength)
            icv.withUnsafeMutableBytes { hmac.finalize(into: $0) }
            XCTAssertEqualHex(icv, Array(full.prefix(algorithm.icvLength)), algorithm.rawValue)
        }
    }

    func testIntegrityRejectsWrongKeyLength() {
        XCTAssertThrowsError(
            try HMACContext(integrity: .hmacSHA1_96, key: Array(repeating: 1, count: 16))
        ) { error in
            XCTAssertEqual(error as? CryptoError, .invalidKeyLength(expected: 20, actual: 16))
        }
    }

    func testEmptyKeyEqualsZeroBlockKey() throws {
        // HMAC pads a short key with zeros to the 64-byte block, so both keys agree.
        let data = Array("data".utf8)
        let empty = try HMACContext.authenticate(prf: .hmacSHA256, key: [], data: data)
        let zeros = try HMACContext.authenticate(
            prf: .hmacSHA256, key: Array(repeating: 0, count: 64), data: data)
        XCTAssertEqualHex(empty, zeros)
    }

    func testOutputLengthMatchesPRF() throws {
        for algorithm in PRFAlgorithm.allCases {
            let hmac = try HMACContext(prf: algorithm, key: [1, 2, 3])
            XCTAssertEqual(hmac.outputLength, algorithm.outputLength, algorithm.rawValue)
            XCTAssertEqual(hmac.finalize().count, algorithm.outputLength, algorithm.rawValue)
        }
    }
}
