import TaglineCore
import XCTest

@testable import TaglineSXP

/// The malformed-message cases: each input, the fault the decoder reports,
/// and the ERROR a version 4 peer receives.
final class SXPCaseTests: XCTestCase {
    struct Case {
        let name: String
        let bytes: [UInt8]
        let error: SXPError
        let reply: SXPErrorMessage
    }

    static let peerSequenceAndSGT: [UInt8] = [
        0x10, 0x10, 0x04, 0xC0, 0x00, 0x02, 0x01,  // Peer-Sequence 192.0.2.1
        0x10, 0x11, 0x02, 0x00, 0x0A,  // SGT 10
    ]

    let cases: [Case] = [
        Case(
            name: "S1 length 7",
            bytes: [0, 0, 0, 7, 0, 0, 0, 6],
            error: .invalidMessageLength(offset: 0, value: 7),
            reply: .extended(code: .messageHeader, subcode: .none)),
        Case(
            name: "S2 length 5000",
            bytes: [0, 0, 0x13, 0x88, 0, 0, 0, 3],
            error: .invalidMessageLength(offset: 0, value: 5000),
            reply: .extended(code: .messageHeader, subcode: .none)),
        Case(
            name: "S3 attribute overrun",
            bytes: sxpMessage(
                type: 3,
                body: peerSequenceThenOverrun()),
            error: .attributeOverrun(field: "attribute type 13", offset: 20, length: 40),
            reply: .extended(code: .updateMessage, subcode: .attributeLengthError)),
        Case(
            name: "S4 IPv4 prefix length 33",
            bytes: sxpMessage(
                type: 3,
                body: peerSequenceAndSGT + [0x10, 0x0D, 0x06, 33, 192, 0, 2, 1, 0]),
            error: .invalidPrefixLength(field: "IPv4-Add-Prefix", offset: 23, value: 33),
            reply: .extended(code: .updateMessage, subcode: .malformedAttribute)),
        Case(
            name: "S5 SGT 0",
            bytes: sxpMessage(
                type: 3,
                body: [
                    0x10, 0x10, 0x04, 0xC0, 0, 2, 1, 0x10, 0x11, 0x02, 0, 0,
                    0x10, 0x0D, 0x05, 32, 192, 0, 2, 1,
                ]),
            error: .invalidSGT(offset: 18, value: 0),
            reply: .extended(code: .updateMessage, subcode: .malformedAttribute)),
    ]

    private static func peerSequenceThenOverrun() -> [UInt8] {
        // IPv4-Add-Prefix claiming 40 bytes with 5 present.
        peerSequenceAndSGT + [0x10, 0x0D, 40, 32, 192, 0, 2, 1]
    }

    func testMalformedCases() {
        for item in cases {
            var thrown: SXPError?
            var framer = SXPFramer()
            framer.append(item.bytes)
            do {
                if let frame = try framer.next() {
                    _ = try SXPMessage.decode(frame.bytes, version: .v4)
                }
            } catch {
                thrown = error as? SXPError
            }
            XCTAssertEqual(thrown, item.error, item.name)
            let type = SXPMessageType(rawValue: UInt32(item.bytes[7]))
            XCTAssertEqual(thrown?.reply(to: type, version: .v4), item.reply, item.name)
        }
    }

    func testLegacyReplyIsParseError() {
        let error = SXPError.invalidMessageLength(offset: 0, value: 7)
        XCTAssertEqual(error.reply(to: nil, version: .v3), .legacy(.messageParseError))
    }

    func testS6UnknownOptionalSkipped() throws {
        let body =
            Self.peerSequenceAndSGT + [
                0xD0, 0x63, 0x03, 1, 2, 3,  // flags O N C, unknown type 99, length 3
                0x10, 0x0D, 0x05, 32, 192, 0, 2, 1,  // IPv4-Add-Prefix 192.0.2.1/32
            ]
        let message = try SXPMessage.decode(sxpMessage(type: 3, body: body), version: .v4)
        let expected = SXPUpdate(
            additions: [
                SXPBindingGroup(
                    peerSequence: [0xC000_0201], sgt: tag(10), prefixes: [prefix("192.0.2.1/32")])
            ], skippedAttributes: 1)
        XCTAssertEqual(message, .update(expected))
    }

    func testIPv6PrefixLength129Rejected() {
        let body = Self.peerSequenceAndSGT + [0x10, 0x0E, 0x01, 129]
        XCTAssertThrowsError(try SXPMessage.decode(sxpMessage(type: 3, body: body), version: .v4)) {
            XCTAssertEqual(
                $0 as? SXPError,
                .invalidPrefixLength(field: "IPv6-Add-Prefix", offset: 23, value: 129))
        }
    }

    func testLegacySGTZeroRejected() {
        // add IPv4 192.0.2.1 with SGT TLV 0.
        let body: [UInt8] = [
            0, 0, 0, 1, 0, 0, 0, 14, 192, 0, 2, 1,
            0, 0, 0, 1, 0, 0, 0, 2, 0, 0,
        ]
        XCTAssertThrowsError(try SXPMessage.decode(sxpMessage(type: 3, body: body), version: .v3)) {
            XCTAssertEqual($0 as? SXPError, .invalidSGT(offset: 28, value: 0))
        }
    }

    func testLegacyMappingOverrunRejected() {
        let body: [UInt8] = [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 192, 0, 2, 1]
        XCTAssertThrowsError(try SXPMessage.decode(sxpMessage(type: 3, body: body), version: .v2)) {
            XCTAssertEqual(
                $0 as? SXPError,
                .attributeOverrun(field: "mapping type 1", offset: 8, length: 0xFFFF_FFFF))
        }
    }
}
