import XCTest

@testable import TaglineSXP

final class SXPErrorMessageTests: XCTestCase {
    func testExtendedBytes() throws {
        let error = SXPErrorMessage.extended(code: .updateMessage, subcode: .malformedAttribute)
        let bytes = SXPMessage.error(error).encode(version: .v4)
        XCTAssertEqual(
            bytes,
            [
                0x00, 0x00, 0x00, 0x0C,  // Length 12
                0x00, 0x00, 0x00, 0x04,  // Type 4: ERROR
                0x83,  // E bit, code 3: UPDATE Message Error
                0x06,  // sub-code 6: Malformed Attribute
                0x00, 0x00,  // reserved
            ])
        XCTAssertEqual(try SXPMessage.decode(bytes, version: .v4), .error(error))
    }

    func testLegacyBytes() throws {
        let bytes = SXPMessage.error(.legacy(.versionMismatch)).encode(version: .v2)
        XCTAssertEqual(bytes, [0, 0, 0, 12, 0, 0, 0, 4, 0, 0, 0, 1])
        XCTAssertEqual(try SXPMessage.decode(bytes, version: .v2), .error(.legacyRaw(1)))
    }

    func testExtendedWithoutReservedDecodes() throws {
        let bytes = sxpMessage(type: 4, body: [0x81, 0x00])
        XCTAssertEqual(
            try SXPMessage.decode(bytes, version: .v4),
            .error(.extended(code: .messageHeader, subcode: .none)))
    }

    func testTruncatedLegacyRejected() {
        XCTAssertThrowsError(
            try SXPMessage.decode(sxpMessage(type: 4, body: [0, 0]), version: .v3))
    }
}
