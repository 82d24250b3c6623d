// Notify, Delete and Vendor ID payloads.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class NotifyDeleteVendorCodecTests: XCTestCase {
    func testNotifyWithSPIDecodes() throws {
        var reader = ByteReader(
            hexBytes(
                """
                03 04 4009        // protocol ESP, SPI size 4, type 16393 (REKEY_SA)
                c0a80001          // SPI
                """))
        let payload = try NotifyPayload.decodeBody(&reader)
        XCTAssertEqual(payload.type, .rekeySA)
        XCTAssertEqual(payload.protocolID, 3)
        XCTAssertEqual(payload.spi, [0xC0, 0xA8, 0x00, 0x01])
        XCTAssertTrue(payload.data.isEmpty)
        XCTAssertFalse(payload.type.isError)
    }

    func testErrorNotifyRoundTrips() throws {
        let payload = NotifyPayload(type: .invalidKEPayload, data: [0x00, 0x0E])
        var writer = ByteWriter()
        payload.encodeBody(into: &writer)
        XCTAssertEqual(
            writer.bytes,
            hexBytes(
                """
                00 00 0011        // no protocol, no SPI, type 17 (INVALID_KE_PAYLOAD)
                000e              // accepted group 14
                """))
        XCTAssertTrue(payload.type.isError)
        XCTAssertEqual("\(payload.type)", "INVALID_KE_PAYLOAD")
    }

    func testNotifySPIPastEndIsTruncated() {
        var reader = ByteReader(hexBytes("03 ff 4009 c0a8"))  // SPI size 255, 2 bytes left
        XCTAssertThrowsError(try NotifyPayload.decodeBody(&reader)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError, .truncated(field: "notify SPI", offset: 4, needed: 255))
        }
    }

    func testDeleteESPDecodes() throws {
        var reader = ByteReader(
            hexBytes(
                """
                03 04 0002        // protocol ESP, SPI size 4, 2 SPIs
                a0000001          // SPI 1
                a0000002          // SPI 2
                """))
        let payload = try DeletePayload.decodeBody(&reader)
        XCTAssertEqual(payload.espSPIs, [0xA000_0001, 0xA000_0002])
        var writer = ByteWriter()
        DeletePayload(espSPIs: [0xA000_0001, 0xA000_0002]).encodeBody(into: &writer)
        XCTAssertEqual(writer.bytes, reader.bytes)
    }

    func testDeleteCountWithTopBitSetIsRejected() {
        var reader = ByteReader(
            hexBytes(
                """
                03 04 8001        // protocol ESP, SPI size 4, 32769 SPIs claimed
                a0000001          // one SPI present
                """))
        XCTAssertThrowsError(try DeletePayload.decodeBody(&reader)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "number of SPIs", offset: 2, value: 0x8001))
        }
    }

    func testIKEDeleteWithSPIsIsRejected() {
        for text in [
            "01 00 0005",  // protocol IKE, SPI size 0, 5 SPIs claimed
            "01 08 0001 0102030405060708",  // protocol IKE, one 8-byte SPI
        ] {
            var reader = ByteReader(hexBytes(text))
            XCTAssertThrowsError(try DeletePayload.decodeBody(&reader), text) { error in
                guard case .invalidValue(let field, _, _) = error as? IKEDecodeError else {
                    return XCTFail("\(text): \(error)")
                }
                XCTAssertEqual(field, "number of SPIs")
            }
        }
    }

    func testDeleteIKESAEncodes() {
        var writer = ByteWriter()
        DeletePayload.ikeSA.encodeBody(into: &writer)
        XCTAssertEqual(writer.bytes, hexBytes("01 00 0000"))  // protocol IKE, no SPIs
    }

    func testVendorIDMatchesExactly() {
        XCTAssertTrue(
            VendorIDPayload(
                data: hexBytes(
                    """
                    434953434f2d4354532d534754  // "CISCO-CTS-SGT", 13 bytes, no NUL
                    """)
            ).isCiscoCTSSGT)
        XCTAssertFalse(VendorIDPayload(data: Array("CISCO-CTS-SGT".utf8) + [0]).isCiscoCTSSGT)
        XCTAssertFalse(VendorIDPayload(data: Array("CISCO-CTS-SGTX".utf8)).isCiscoCTSSGT)
        XCTAssertFalse(VendorIDPayload(data: Array("cisco-cts-sgt".utf8)).isCiscoCTSSGT)
        XCTAssertFalse(VendorIDPayload(data: []).isCiscoCTSSGT)
    }
}
