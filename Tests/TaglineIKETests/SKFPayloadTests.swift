// The SKF payload codec (RFC 7383 §2.5): cutting an inner payload chain into
// fragments that each fit the size, opening them one by one, and rejecting
// bad fragment numbers and tampered fragments.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class SKFPayloadTests: XCTestCase {
    private let cbcKeys = SKKeys(
        encryption: .aesCBC128, integrity: .hmacSHA256_128,
        encryptionKey: Array(repeating: 0x11, count: 16),
        integrityKey: Array(repeating: 0x22, count: 32))
    private let gcmKeys = SKKeys(
        encryption: .aesGCM128, integrity: nil,
        encryptionKey: Array(repeating: 0x33, count: 20), integrityKey: [])
    private let header = IKEHeader(
        initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0x1112_1314_1516_1718,
        nextPayload: 0, exchangeType: .ikeAuth, isInitiator: true, isResponse: false,
        messageID: 1)

    private func plaintext(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    }

    /// Opens every fragment and returns them in order.
    private func openAll(_ messages: [[UInt8]], keys: SKKeys) throws -> [SKFPayload.Fragment] {
        try messages.map { bytes in
            let received = try ReceivedMessage.decode(bytes)
            XCTAssertTrue(received.isFragment)
            return try SKFPayload.open(
                message: bytes, offset: try XCTUnwrap(received.encryptedOffset),
                firstInnerType: received.encryptedFirstType, keys: keys)
        }
    }

    func testContentLengthForIPv4() {
        // 548 bytes: 576 minus 20 (IPv4) and 8 (UDP). Overhead with AES-CBC
        // and SHA-256-128: 28 + 8 + 16 (IV) + 16 (ICV) = 68, so 480 bytes
        // encrypted, one of them the Pad Length.
        XCTAssertEqual(SKFPayload.maximumContentLength(keys: cbcKeys, maximumMessageSize: 548), 479)
        // AES-GCM: 28 + 8 + 8 (IV) + 16 (tag) = 60, no block alignment.
        XCTAssertEqual(SKFPayload.maximumContentLength(keys: gcmKeys, maximumMessageSize: 548), 487)
        XCTAssertNil(SKFPayload.maximumContentLength(keys: cbcKeys, maximumMessageSize: 68))
    }

    func testRoundTrip() throws {
        for keys in [cbcKeys, gcmKeys] {
            let data = plaintext(1000)
            let messages = try SKFPayload.seal(
                header: header, firstInnerType: PayloadType.identificationInitiator.rawValue,
                plaintext: data, keys: keys, maximumMessageSize: 300,
                random: SeededRandom(seed: 5).bytes)
            let pieceLength = try XCTUnwrap(
                SKFPayload.maximumContentLength(keys: keys, maximumMessageSize: 300))
            XCTAssertEqual(messages.count, (1000 + pieceLength - 1) / pieceLength)
            for message in messages {
                XCTAssertLessThanOrEqual(message.count, 300)
                XCTAssertEqual(try IKEHeader.decode(message).messageID, 1)
            }
            let fragments = try openAll(messages, keys: keys)
            XCTAssertEqual(fragments.map(\.number), Array(1...messages.count))
            XCTAssertTrue(fragments.allSatisfy { $0.total == messages.count })
            XCTAssertEqual(
                fragments.first?.firstInnerType, PayloadType.identificationInitiator.rawValue)
            XCTAssertTrue(fragments.dropFirst().allSatisfy { $0.firstInnerType == 0 })
            XCTAssertEqual(fragments.flatMap(\.content), data)
        }
    }

    func testSmallMessageIsOneFragment() throws {
        let messages = try SKFPayload.seal(
            header: header, firstInnerType: 41, plaintext: plaintext(10), keys: gcmKeys,
            maximumMessageSize: 548, random: SeededRandom(seed: 6).bytes)
        XCTAssertEqual(messages.count, 1)
        let fragment = try XCTUnwrap(try openAll(messages, keys: gcmKeys).first)
        XCTAssertEqual(fragment.number, 1)
        XCTAssertEqual(fragment.total, 1)
    }

    func testTamperedFragmentFails() throws {
        for keys in [cbcKeys, gcmKeys] {
            var messages = try SKFPayload.seal(
                header: header, firstInnerType: 35, plaintext: plaintext(600), keys: keys,
                maximumMessageSize: 300, random: SeededRandom(seed: 7).bytes)
            // The Fragment Number is covered by the checksum: changing 2 to 3 fails.
            let offset = IKEHeader.size + SKFPayload.fragmentNumberOffset + 1
            XCTAssertEqual(messages[1][offset], 2)
            messages[1][offset] = 3
            XCTAssertThrowsError(try openAll([messages[1]], keys: keys)) { error in
                XCTAssertEqual(error as? IKEProtocolError, .integrityCheckFailed)
            }
        }
    }

    func testInvalidFragmentNumbers() throws {
        let messages = try SKFPayload.seal(
            header: header, firstInnerType: 35, plaintext: plaintext(40), keys: cbcKeys,
            maximumMessageSize: 548, random: SeededRandom(seed: 8).bytes)
        let numberOffset = IKEHeader.size + SKFPayload.fragmentNumberOffset
        for (number, total, field) in [
            (0, 1, "fragment number"), (3, 2, "fragment number"), (0, 0, "total fragments"),
        ] {
            var bytes = messages[0]
            bytes[numberOffset] = 0
            bytes[numberOffset + 1] = UInt8(number)
            bytes[numberOffset + 2] = 0
            bytes[numberOffset + 3] = UInt8(total)
            XCTAssertThrowsError(try openAll([bytes], keys: cbcKeys), "\(number)/\(total)") {
                error in
                guard case .invalidValue(let name, _, _)? = error as? IKEDecodeError else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(name, field)
            }
        }
    }

    func testTruncatedFragmentHeader() throws {
        // An SKF payload of 6 bytes ends inside Total Fragments.
        var writer = ByteWriter()
        var fragmentHeader = header
        fragmentHeader.nextPayload = PayloadType.encryptedFragment.rawValue
        fragmentHeader.length = UInt32(IKEHeader.size + 6)
        fragmentHeader.encode(into: &writer)
        writer.append(contentsOf: [0, 0, 0, 6, 0, 1])
        let bytes = writer.bytes
        XCTAssertThrowsError(try openAll([bytes], keys: cbcKeys)) { error in
            guard case .truncated(let field, _, _)? = error as? IKEDecodeError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(field, "total fragments")
        }
    }

    func testSizeWithoutRoomThrows() {
        XCTAssertThrowsError(
            try SKFPayload.seal(
                header: header, firstInnerType: 35, plaintext: plaintext(10), keys: cbcKeys,
                maximumMessageSize: 60, random: SeededRandom(seed: 9).bytes))
    }
}
