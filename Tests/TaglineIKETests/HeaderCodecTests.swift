// The IKE header and the generic payload chain.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class HeaderCodecTests: XCTestCase {
    private let initHeader = """
        0102030405060708  // initiator SPI
        0000000000000000  // responder SPI: zero in the IKE_SA_INIT request
        00                // next payload: none
        20                // version 2.0
        22                // exchange type 34, IKE_SA_INIT
        08                // flags: Initiator
        00000000          // message ID 0
        0000001c          // length 28
        """

    func testHeaderDecodesFields() throws {
        let header = try IKEHeader.decode(hexBytes(initHeader))
        XCTAssertEqual(header.initiatorSPI, 0x0102_0304_0506_0708)
        XCTAssertEqual(header.responderSPI, 0)
        XCTAssertEqual(header.exchangeType, .ikeSAInit)
        XCTAssertTrue(header.isInitiator)
        XCTAssertFalse(header.isResponse)
        XCTAssertEqual(header.messageID, 0)
        XCTAssertEqual(header.length, 28)
    }

    func testHeaderRoundTrips() throws {
        let message = IKEMessage(header: try IKEHeader.decode(hexBytes(initHeader)), payloads: [])
        XCTAssertEqual(message.encodeClear(), hexBytes(initHeader))
    }

    func testLengthWithTopBitSetIsRejected() {
        let bytes = hexBytes(
            """
            0102030405060708 0000000000000000  // SPIs
            00 20 22 08                        // next payload, version, IKE_SA_INIT, flags
            00000000                           // message ID
            8000001c                           // length with the top bit set
            """)
        XCTAssertThrowsError(try IKEHeader.decode(bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "IKE message length", offset: 24, value: 0x8000_001C))
        }
    }

    func testTruncatedHeaderNamesField() {
        let bytes = Array(hexBytes(initHeader).prefix(26))
        XCTAssertThrowsError(try IKEHeader.decode(bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError, .truncated(field: "length", offset: 24, needed: 4))
        }
    }

    func testMajorVersionThreeIsRejected() {
        var bytes = hexBytes(initHeader)
        bytes[17] = 0x30  // version 3.0
        XCTAssertThrowsError(try IKEHeader.decode(bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidValue(field: "major version", offset: 17, value: 3))
        }
    }

    func testUnknownExchangeTypeIsRejected() {
        var bytes = hexBytes(initHeader)
        bytes[18] = 40
        XCTAssertThrowsError(try IKEHeader.decode(bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidValue(field: "exchange type", offset: 18, value: 40))
        }
    }

    func testUnknownNonCriticalPayloadIsKept() throws {
        let bytes = hexBytes(
            """
            0102030405060708 0000000000000000  // SPIs
            31 20 22 08                        // next payload 49 (unassigned), IKE_SA_INIT
            00000000 00000024                  // message ID 0, length 36
            00 00 0008                         // next: none, not critical, length 8
            deadbeef                           // unknown payload body
            """)
        let message = try ReceivedMessage.decode(bytes)
        XCTAssertEqual(message.clearPayloads, [.unknown(type: 49, body: [0xde, 0xad, 0xbe, 0xef])])
    }

    func testUnknownCriticalPayloadIsRejected() {
        let bytes = hexBytes(
            """
            0102030405060708 0000000000000000  // SPIs
            31 20 22 08                        // next payload 49 (unassigned), IKE_SA_INIT
            00000000 00000024                  // message ID 0, length 36
            00 80 0008                         // next: none, critical bit set, length 8
            deadbeef                           // unknown payload body
            """)
        XCTAssertThrowsError(try ReceivedMessage.decode(bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError, .unsupportedCriticalPayload(type: 49, offset: 28))
        }
    }

    func testPayloadLengthPastEndIsRejected() {
        let bytes = hexBytes(
            """
            0102030405060708 0000000000000000  // SPIs
            2b 20 22 08                        // next payload 43 (Vendor ID), IKE_SA_INIT
            00000000 00000024                  // message ID 0, length 36
            00 00 8008                         // next: none, length 0x8008 (top bit set)
            deadbeef                           // Vendor ID data
            """)
        XCTAssertThrowsError(try ReceivedMessage.decode(bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "payload length", offset: 30, value: 0x8008))
        }
    }

    func testPayloadLengthBelowHeaderIsRejected() {
        let bytes = hexBytes(
            """
            0102030405060708 0000000000000000  // SPIs
            2b 20 22 08                        // next payload 43 (Vendor ID), IKE_SA_INIT
            00000000 00000020                  // message ID 0, length 32
            00 00 0002                         // length 2, shorter than the generic header
            """)
        XCTAssertThrowsError(try ReceivedMessage.decode(bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "payload length", offset: 30, value: 2))
        }
    }

    func testBytesAfterLastPayloadAreRejected() {
        let bytes = hexBytes(
            """
            0102030405060708 0000000000000000  // SPIs
            2b 20 22 08                        // next payload 43 (Vendor ID), IKE_SA_INIT
            00000000 00000024                  // message ID 0, length 36
            00 00 0006                         // next: none, length 6
            abcd                               // Vendor ID data
            0000                               // two bytes that no payload claims
            """)
        XCTAssertThrowsError(try ReceivedMessage.decode(bytes)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "bytes after the last payload", offset: 34, value: 2))
        }
    }
}
