// KE and Nonce payloads.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class KENonceCodecTests: XCTestCase {
    private func decodeKE(_ body: [UInt8]) throws -> KEPayload {
        var reader = ByteReader(body)
        return try KEPayload.decodeBody(&reader)
    }

    func testKEDecodes() throws {
        let body =
            hexBytes(
                """
                0013 0000         // DH group 19, reserved
                """) + [UInt8](repeating: 0x42, count: 64)  // x and y of the ECP-256 point
        let payload = try decodeKE(body)
        XCTAssertEqual(payload.group, .ecp256)
        XCTAssertEqual(payload.keyExchangeData.count, 64)
        XCTAssertNoThrow(try payload.validate())
        var writer = ByteWriter()
        payload.encodeBody(into: &writer)
        XCTAssertEqual(writer.bytes, body)
    }

    func testKEOfWrongLengthIsInvalid() throws {
        let payload = try decodeKE(
            hexBytes(
                """
                000e 0000         // DH group 14 (MODP-2048), reserved
                0102030405060708  // 8 bytes where 256 are needed
                """))
        XCTAssertThrowsError(try payload.validate()) { error in
            XCTAssertEqual(
                error as? IKEProtocolError, .invalidPayload("KE data of 8 bytes for group 14"))
        }
    }

    func testUnknownGroupIsKept() throws {
        let payload = try decodeKE(hexBytes("ffff 0000 00"))  // group 65535, one data byte
        XCTAssertNil(payload.group)
        XCTAssertEqual(payload.groupNumber, 0xFFFF)
    }

    func testTruncatedKENamesField() {
        XCTAssertThrowsError(try decodeKE(hexBytes("0013 00"))) { error in
            XCTAssertEqual(
                error as? IKEDecodeError, .truncated(field: "KE reserved", offset: 2, needed: 2))
        }
    }

    func testNonceLengthLimits() {
        XCTAssertThrowsError(try NoncePayload(nonce: [UInt8](repeating: 1, count: 15)).validate())
        XCTAssertNoThrow(try NoncePayload(nonce: [UInt8](repeating: 1, count: 16)).validate())
        XCTAssertNoThrow(try NoncePayload(nonce: [UInt8](repeating: 1, count: 256)).validate())
        XCTAssertThrowsError(try NoncePayload(nonce: [UInt8](repeating: 1, count: 257)).validate())
    }

    func testShortNonceInRequestGetsInvalidSyntax() throws {
        // An IKE_SA_INIT request whose nonce has 8 bytes gets INVALID_SYNTAX.
        let lab = Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
        lab.a.engine.start()
        let original = try XCTUnwrap(lab.a.outbox.first)
        var request = try ReceivedMessage.decode(original.bytes).clearMessage
        request.payloads = request.payloads.map {
            if case .nonce = $0 { return .nonce(NoncePayload(nonce: [1, 2, 3, 4, 5, 6, 7, 8])) }
            return $0
        }
        lab.b.engine.receive(
            IKEDatagram(
                local: original.remote, remote: original.local, bytes: request.encodeClear()))
        let reply = try ReceivedMessage.decode(XCTUnwrap(lab.b.outbox.first).bytes)
        XCTAssertEqual(reply.clearMessage.errorNotify?.type, .invalidSyntax)
        XCTAssertTrue(lab.b.engine.ikeSAStatuses().isEmpty)
    }
}
