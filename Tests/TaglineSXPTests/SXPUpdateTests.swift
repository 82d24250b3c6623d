import TaglineCore
import XCTest

@testable import TaglineSXP

final class SXPUpdateTests: XCTestCase {
    /// A version 4 UPDATE built from the draft's field layout.
    let updateV4: [UInt8] = [
        0x00, 0x00, 0x00, 0x33,  // Length 51
        0x00, 0x00, 0x00, 0x03,  // Type 3: UPDATE
        0x10, 0x0B, 0x04,  // flags C, type 11 IPv4-Delete-Prefix, length 4
        0x18, 0xC6, 0x33, 0x64,  // 198.51.100.0/24
        0x10, 0x10, 0x08,  // flags C, type 16 Peer-Sequence, length 8
        0xC0, 0x00, 0x02, 0x01,  // node 192.0.2.1
        0xC0, 0x00, 0x02, 0x02,  // node 192.0.2.2
        0x10, 0x11, 0x02, 0x00, 0x0A,  // flags C, type 17 SGT, value 10
        0x10, 0x0D, 0x08,  // flags C, type 13 IPv4-Add-Prefix, length 8
        0x20, 0xCB, 0x00, 0x71, 0x02,  // 203.0.113.2/32
        0x10, 0xC0, 0x00,  // 192.0.0.0/16
        0x10, 0x0E, 0x06,  // flags C, type 14 IPv6-Add-Prefix, length 6
        0x20, 0x20, 0x01, 0x0D, 0xB8,  // 2001:db8::/32
        0x00,  // ::/0
    ]

    let decodedV4 = SXPUpdate(
        deletions: [prefix("198.51.100.0/24")],
        additions: [
            SXPBindingGroup(
                peerSequence: [0xC000_0201, 0xC000_0202], sgt: tag(10),
                prefixes: [
                    prefix("203.0.113.2/32"), prefix("192.0.0.0/16"),
                    prefix("2001:db8::/32"), prefix("::/0"),
                ])
        ])

    func testVersionFourDecodes() throws {
        XCTAssertEqual(try SXPMessage.decode(updateV4, version: .v4), .update(decodedV4))
    }

    func testVersionFourEncodes() {
        XCTAssertEqual(SXPMessage.update(decodedV4).encode(version: .v4), updateV4)
    }

    func testVersionThreeBytes() throws {
        let update = SXPUpdate(
            deletions: [prefix("198.51.100.7/32")],
            additions: [
                SXPBindingGroup(peerSequence: [], sgt: tag(20), prefixes: [prefix("192.0.2.0/24")])
            ])
        let bytes = SXPMessage.update(update).encode(version: .v3)
        XCTAssertEqual(
            bytes,
            [
                0x00, 0x00, 0x00, 0x3C,  // Length 60
                0x00, 0x00, 0x00, 0x03,  // Type 3: UPDATE
                0x00, 0x00, 0x00, 0x03,  // mapping type 3: delete IPv4
                0x00, 0x00, 0x00, 0x0D,  // length 13
                0xC6, 0x33, 0x64, 0x07,  // 198.51.100.7
                0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x20,  // prefix length 32
                0x00, 0x00, 0x00, 0x01,  // mapping type 1: add IPv4
                0x00, 0x00, 0x00, 0x17,  // length 23
                0xC0, 0x00, 0x02, 0x00,  // 192.0.2.0
                0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x14,  // SGT 20
                0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x18,  // prefix length 24
            ])
        XCTAssertEqual(try SXPMessage.decode(bytes, version: .v3), .update(update))
    }

    func testVersionOneLeavesOutPrefixesAndIPv6() throws {
        let update = SXPUpdate(additions: [
            SXPBindingGroup(
                peerSequence: [], sgt: tag(5),
                prefixes: [
                    prefix("192.0.2.9/32"), prefix("192.0.2.0/24"), prefix("2001:db8::1/128"),
                ])
        ])
        let bytes = SXPMessage.update(update).encode(version: .v1)
        let expected = SXPUpdate(additions: [
            SXPBindingGroup(peerSequence: [], sgt: tag(5), prefixes: [prefix("192.0.2.9/32")])
        ])
        XCTAssertEqual(try SXPMessage.decode(bytes, version: .v1), .update(expected))
    }

    func testVersionTwoCarriesIPv6Hosts() throws {
        let update = SXPUpdate(additions: [
            SXPBindingGroup(peerSequence: [], sgt: tag(7), prefixes: [prefix("2001:db8::1/128")])
        ])
        let bytes = SXPMessage.update(update).encode(version: .v2)
        XCTAssertEqual(try SXPMessage.decode(bytes, version: .v2), .update(update))
    }

    func testAddWithoutSGTRejected() {
        let bytes = sxpMessage(
            type: 3, body: [0x10, 0x10, 0x04, 1, 2, 3, 4, 0x10, 0x0D, 0x02, 0x08, 0x0A])
        XCTAssertThrowsError(try SXPMessage.decode(bytes, version: .v4)) { error in
            XCTAssertEqual(error as? SXPError, .missingAttribute(field: "SGT", offset: 15))
        }
    }

    func testUnknownWellKnownAttributeRejected() {
        let bytes = sxpMessage(type: 3, body: [0x10, 0x63, 0x01, 0x00])
        XCTAssertThrowsError(try SXPMessage.decode(bytes, version: .v4)) { error in
            XCTAssertEqual(error as? SXPError, .unknownAttribute(type: 0x63, offset: 8))
        }
    }

    func testPrefixTruncatedInsideAttributeRejected() {
        // IPv4-Add-Prefix of length 2 holding prefix length 24, which needs 3 bytes.
        let body: [UInt8] = [
            0x10, 0x10, 0x04, 1, 2, 3, 4, 0x10, 0x11, 0x02, 0, 9,
            0x10, 0x0D, 0x02, 0x18, 0xC0,
        ]
        XCTAssertThrowsError(try SXPMessage.decode(sxpMessage(type: 3, body: body), version: .v4))
    }

    func testSplitKeepsEveryBinding() throws {
        var prefixes = [IPPrefix]()
        for i in 0..<3000 {
            prefixes.append(IPPrefix(host: .v4(0xC000_0000 | UInt32(i))))
        }
        let update = SXPUpdate(
            deletions: [prefix("198.51.100.0/24")],
            additions: [SXPBindingGroup(peerSequence: [1], sgt: tag(3), prefixes: prefixes)])
        for version in [SXPVersion.v4, .v3] {
            let parts = update.split(version: version)
            XCTAssertGreaterThan(parts.count, 1)
            var seen = [IPPrefix]()
            for part in parts {
                let bytes = SXPMessage.update(part).encode(version: version)
                XCTAssertLessThanOrEqual(bytes.count, SXPHeader.maximumLength)
                guard case .update(let decoded) = try SXPMessage.decode(bytes, version: version)
                else { return XCTFail("expected UPDATE") }
                seen += decoded.additions.flatMap(\.prefixes)
            }
            XCTAssertEqual(seen, prefixes)
        }
    }
}
