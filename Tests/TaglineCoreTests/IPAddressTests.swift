import XCTest
@testable import TaglineCore

final class IPAddressTests: XCTestCase {
    func testIPv4RoundTrip() {
        XCTAssertEqual(IPAddress("192.0.2.10"), .v4(0xC000_020A))
        XCTAssertEqual(IPAddress("192.0.2.10")?.description, "192.0.2.10")
        XCTAssertNil(IPAddress("192.0.2"))
        XCTAssertNil(IPAddress("192.0.2.256"))
        XCTAssertNil(IPAddress("192.0.2.-1"))
    }

    func testIPv6CompressionFollowsRFC5952() {
        XCTAssertEqual(IPAddress("2001:db8::1")?.description, "2001:db8::1")
        XCTAssertEqual(IPAddress("2001:0db8:0:0:1:0:0:1")?.description, "2001:db8::1:0:0:1")
        XCTAssertEqual(IPAddress("::")?.description, "::")
        XCTAssertEqual(IPAddress("::ffff:192.0.2.1")?.description, "::ffff:c000:201")
        XCTAssertNil(IPAddress("2001:db8:::1"))
        XCTAssertNil(IPAddress("1:2:3:4:5:6:7:8:9"))
    }

    func testPrefixRejectsHostBits() {
        XCTAssertNotNil(IPPrefix("192.0.2.0/24"))
        XCTAssertNil(IPPrefix("192.0.2.1/24"))
        XCTAssertNil(IPPrefix("192.0.2.0/33"))
        XCTAssertEqual(IPPrefix("192.0.2.10")?.length, 32)
        XCTAssertEqual(IPPrefix("2001:db8::/32")?.range.upperBound.description,
                       "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
    }

    func testNetmaskLength() {
        XCTAssertEqual(IPPrefix.length(ofNetmask: IPAddress("255.255.255.0")!), 24)
        XCTAssertEqual(IPPrefix.length(ofNetmask: IPAddress("0.0.0.0")!), 0)
        XCTAssertEqual(IPPrefix.length(ofNetmask: IPAddress("255.255.255.255")!), 32)
        XCTAssertNil(IPPrefix.length(ofNetmask: IPAddress("255.0.255.0")!))
    }

    func testSGTValidation() {
        XCTAssertEqual(SGT.parse("0"), .failure(.unknownTag))
        XCTAssertEqual(SGT.parse("65535"), .failure(.reservedTag))
        XCTAssertEqual(SGT.parse("70000"), .failure(.outOfRange(70000)))
        XCTAssertEqual(try SGT.parse("400").get().value, 400)
    }
}
