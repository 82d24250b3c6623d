// Identification and Authentication payloads.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class IDAuthCodecTests: XCTestCase {
    func testIPv4IdentityDecodes() throws {
        var reader = ByteReader(
            hexBytes(
                """
                01 000000         // ID type 1 (ID_IPV4_ADDR), reserved
                c6336401          // 198.51.100.1
                """))
        let payload = try IDPayload.decodeBody(&reader)
        XCTAssertEqual(payload.type, .ipv4Address)
        XCTAssertEqual(payload.address, IPAddress("198.51.100.1"))
        XCTAssertEqual(payload.displayText, "198.51.100.1")
        XCTAssertEqual(payload.bodyBytes, hexBytes("01000000 c6336401"))
    }

    func testIPv6IdentityRoundTrips() throws {
        let payload = IDPayload(address: IPAddress("2001:db8::1")!)
        XCTAssertEqual(
            payload.bodyBytes,
            hexBytes(
                """
                05 000000                           // ID type 5 (ID_IPV6_ADDR), reserved
                20010db8000000000000000000000001    // 2001:db8::1
                """))
    }

    func testAddressTypeWithWrongLengthHasNoAddress() throws {
        var reader = ByteReader(hexBytes("01 000000 c63364"))  // ID_IPV4_ADDR with 3 bytes
        let payload = try IDPayload.decodeBody(&reader)
        XCTAssertNil(payload.address)
    }

    func testFQDNIdentityDisplaysText() throws {
        var reader = ByteReader(hexBytes("02 000000") + Array("gw1.example".utf8))
        XCTAssertEqual(try IDPayload.decodeBody(&reader).displayText, "gw1.example")
    }

    func testTruncatedIdentityNamesField() {
        var reader = ByteReader(hexBytes("01 00"))
        XCTAssertThrowsError(try IDPayload.decodeBody(&reader)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError, .truncated(field: "ID reserved", offset: 1, needed: 3))
        }
    }

    func testAuthDecodes() throws {
        var reader = ByteReader(
            hexBytes(
                """
                02 000000         // auth method 2 (Shared Key Message Integrity Code), reserved
                00112233          // authentication data
                """))
        let payload = try AuthPayload.decodeBody(&reader)
        XCTAssertEqual(payload.method, .sharedKeyMIC)
        XCTAssertEqual(payload.data, [0x00, 0x11, 0x22, 0x33])
    }
}
