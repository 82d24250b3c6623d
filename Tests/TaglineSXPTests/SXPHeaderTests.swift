import XCTest

@testable import TaglineSXP

final class SXPHeaderTests: XCTestCase {
    func testKeepaliveBytes() {
        let bytes = SXPMessage.keepalive.encode(version: .v4)
        XCTAssertEqual(
            bytes,
            [
                0x00, 0x00, 0x00, 0x08,  // Length 8: header only
                0x00, 0x00, 0x00, 0x06,  // Type 6: KEEPALIVE
            ])
        XCTAssertEqual(try SXPMessage.decode(bytes, version: .v4), .keepalive)
    }

    func testPurgeAllRoundTrip() throws {
        let bytes = SXPMessage.purgeAll.encode(version: .v2)
        XCTAssertEqual(bytes, [0, 0, 0, 8, 0, 0, 0, 5])
        XCTAssertEqual(try SXPMessage.decode(bytes, version: .v2), .purgeAll)
    }

    func testShortHeaderNeedsMore() throws {
        XCTAssertNil(try SXPHeader.decode([0, 0, 0, 8, 0, 0, 0]))
    }

    func testLengthTopBitRejected() {
        let bytes: [UInt8] = [0x80, 0, 0, 0x08, 0, 0, 0, 6]
        XCTAssertThrowsError(try SXPHeader.decode(bytes)) { error in
            XCTAssertEqual(
                error as? SXPError, .invalidMessageLength(offset: 0, value: 0x8000_0008))
        }
    }

    func testUnknownTypeRejected() {
        let bytes: [UInt8] = [0, 0, 0, 8, 0, 0, 0, 7]
        XCTAssertThrowsError(try SXPHeader.decode(bytes)) { error in
            XCTAssertEqual(error as? SXPError, .unknownMessageType(offset: 4, value: 7))
        }
    }

    func testLengthDisagreeingWithBytesRejected() {
        let bytes: [UInt8] = [0, 0, 0, 12, 0, 0, 0, 6, 0, 0, 0]
        XCTAssertThrowsError(try SXPMessage.decode(bytes, version: .v4))
    }

    func testFramerSplitsStream() throws {
        var framer = SXPFramer()
        let keepalive = SXPMessage.keepalive.encode(version: .v4)
        let purge = SXPMessage.purgeAll.encode(version: .v4)
        let stream = keepalive + purge
        framer.append(stream.prefix(5))
        XCTAssertNil(try framer.next())
        framer.append(stream.dropFirst(5).prefix(6))
        XCTAssertEqual(try framer.next()?.bytes, keepalive)
        XCTAssertNil(try framer.next())
        framer.append(stream.dropFirst(11))
        XCTAssertEqual(try framer.next()?.header.type, .purgeAll)
        XCTAssertNil(try framer.next())
    }
}
