import XCTest

@testable import TaglineCrypto

final class SecureMemoryTests: XCTestCase {
    func testRandomBytesLengthAndVariety() {
        XCTAssertEqual(secureRandomBytes(0), [])
        let first = secureRandomBytes(32)
        let second = secureRandomBytes(32)
        XCTAssertEqual(first.count, 32)
        // Two equal 256-bit draws would mean a broken generator.
        XCTAssertNotEqual(first, second)
    }

    func testRandomBytesFillBuffer() {
        var buffer = [UInt8](repeating: 0, count: 64)
        buffer.withUnsafeMutableBytes { secureRandomBytes(into: $0) }
        XCTAssertNotEqual(buffer, [UInt8](repeating: 0, count: 64))
    }

    func testConstantTimeEqual() {
        XCTAssertTrue(constantTimeEqual([], []))
        XCTAssertTrue(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(constantTimeEqual([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(constantTimeEqual([1, 2, 3], [1, 2]))
        XCTAssertFalse(constantTimeEqual([0x80], [0x00]))
    }

    func testWipeZeroesEveryByte() {
        var secret: [UInt8] = [1, 2, 3, 4, 5]
        wipe(&secret)
        XCTAssertEqual(secret, [0, 0, 0, 0, 0])
        var empty: [UInt8] = []
        wipe(&empty)
        XCTAssertEqual(empty, [])
    }

    func testErrorDescriptionsNameTheProblem() {
        XCTAssertEqual(
            CryptoError.openSSL(function: "EVP_CipherInit_ex", detail: "bad key").description,
            "EVP_CipherInit_ex failed: bad key")
        XCTAssertEqual(
            CryptoError.invalidKeyLength(expected: 16, actual: 3).description,
            "invalid key length: 3 bytes, expected 16")
    }

    func testDrainedQueueReportsEmpty() {
        _ = drainOpenSSLErrors()
        XCTAssertEqual(drainOpenSSLErrors(), "no OpenSSL error queued")
    }
}
