// Traffic Selector payloads.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class TSPayloadCodecTests: XCTestCase {
    private func decode(_ body: [UInt8]) throws -> TSPayload {
        var reader = ByteReader(body)
        return try TSPayload.decodeBody(&reader)
    }

    func testIPv4AndIPv6SelectorsDecode() throws {
        let body = hexBytes(
            """
            02 000000                         // 2 selectors, reserved
            07 00 0010                        // TS_IPV4_ADDR_RANGE, any protocol, length 16
            0000 ffff                         // ports 0-65535
            c0000200 c00002ff                 // 192.0.2.0 - 192.0.2.255
            08 06 0028                        // TS_IPV6_ADDR_RANGE, TCP, length 40
            01bb 01bb                         // port 443 only
            20010db8000000000000000000000000  // 2001:db8::
            20010db8ffffffffffffffffffffffff  // 2001:db8:ffff:ffff:ffff:ffff:ffff:ffff
            """)
        let payload = try decode(body)
        XCTAssertEqual(
            payload.selectors,
            [
                TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!),
                TrafficSelector(
                    startAddress: IPAddress("2001:db8::")!,
                    endAddress: IPAddress("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")!, ipProtocol: 6,
                    startPort: 443, endPort: 443),
            ])
        var writer = ByteWriter()
        payload.encodeBody(into: &writer)
        XCTAssertEqual(writer.bytes, body)
    }

    func testSelectorLengthWithTopBitSet() {
        let body = hexBytes(
            """
            01 000000                         // 1 selector
            07 00 8010                        // TS_IPV4_ADDR_RANGE, length 0x8010
            0000 ffff c0000200 c00002ff       // ports and addresses
            """)
        XCTAssertThrowsError(try decode(body)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "selector length", offset: 6, value: 0x8010))
        }
    }

    func testTruncatedSelectorNamesField() {
        let body = hexBytes(
            """
            01 000000                         // 1 selector
            07 00 0010 0000 ffff              // TS_IPV4_ADDR_RANGE header and ports
            c0000200                          // starting address, then the data ends
            """)
        XCTAssertThrowsError(try decode(body)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .truncated(field: "TS ending address", offset: 16, needed: 4))
        }
    }

    func testZeroSelectorsIsRejected() {
        XCTAssertThrowsError(try decode(hexBytes("00 000000"))) { error in
            XCTAssertEqual(
                error as? IKEDecodeError, .invalidValue(field: "number of TSs", offset: 0, value: 0)
            )
        }
    }

    func testUnknownSelectorTypeIsRejected() {
        let body = hexBytes("01 000000 09 00 0010 0000ffff c0000200 c00002ff")  // type 9
        XCTAssertThrowsError(try decode(body)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError, .invalidValue(field: "TS type", offset: 4, value: 9))
        }
    }

    func testSelectorIntersection() {
        let wide = TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!)
        let host = TrafficSelector(prefix: IPPrefix("192.0.2.10/32")!)
        let other = TrafficSelector(prefix: IPPrefix("198.51.100.0/24")!)
        XCTAssertEqual(wide.intersection(host), host)
        XCTAssertNil(wide.intersection(other))
        XCTAssertNil(wide.intersection(.anyIPv6))
        var tcp = wide
        tcp.ipProtocol = 6
        var udp = wide
        udp.ipProtocol = 17
        XCTAssertNil(tcp.intersection(udp))
        XCTAssertEqual(tcp.intersection(.anyIPv4), tcp)
    }
}
