// Extended access lists and the traffic selectors made from their permit entries.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class AccessListTests: XCTestCase {
    private func address(_ text: String) -> IPAddress { IPAddress(text)! }

    func testEndpointForms() throws {
        let result = parse(
            "ip access-list extended acl",
            " permit ip any host 203.0.113.9",
            " permit tcp 192.0.2.0 0.0.0.255 eq 443 203.0.113.0 0.0.0.127 range 1000 2000",
            " deny udp host 192.0.2.5 lt 1024 any gt 60000 log",
            " 40 permit esp any any",
            " remark protected subnets")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let entries = try XCTUnwrap(result.config.accessLists["acl"]?.entries)
        guard entries.count == 4 else { return XCTFail("expected 4, found \(entries.count)") }

        XCTAssertEqual(entries[0].source.prefix, IPPrefix("0.0.0.0/0"))
        XCTAssertEqual(entries[0].destination.prefix, IPPrefix("203.0.113.9/32"))

        XCTAssertEqual(entries[1].ipProtocol, 6)
        XCTAssertEqual(entries[1].source.prefix, IPPrefix("192.0.2.0/24"))
        XCTAssertEqual(entries[1].source.ports, 443...443)
        XCTAssertEqual(entries[1].destination.prefix, IPPrefix("203.0.113.0/25"))
        XCTAssertEqual(entries[1].destination.ports, 1000...2000)

        XCTAssertEqual(entries[2].action, .deny)
        XCTAssertEqual(entries[2].source.ports, 0...1023)
        XCTAssertEqual(entries[2].destination.ports, 60001...65535)

        XCTAssertEqual(entries[3].ipProtocol, 50)
        XCTAssertEqual(entries[3].line, 5)
    }

    func testSelectorsFromPermitsOnly() throws {
        let result = parse(
            "ip access-list extended acl",
            " deny ip host 192.0.2.9 any",
            " permit udp 192.0.2.0 0.0.0.255 eq isakmp 203.0.113.0 0.0.0.255")
        let selectors = try XCTUnwrap(result.config.accessLists["acl"]).trafficSelectors()
        guard selectors.count == 1 else { return XCTFail("expected 1, found \(selectors.count)") }
        let expectedLocal = TrafficSelector(
            startAddress: address("192.0.2.0"), endAddress: address("192.0.2.255"), ipProtocol: 17,
            startPort: 500, endPort: 500)
        let expectedRemote = TrafficSelector(
            startAddress: address("203.0.113.0"), endAddress: address("203.0.113.255"),
            ipProtocol: 17, startPort: 0, endPort: 65535)
        XCTAssertEqual(selectors[0].local, expectedLocal)
        XCTAssertEqual(selectors[0].remote, expectedRemote)
    }

    func testWildcardClearsDontCareBits() {
        let result = parse("ip access-list extended acl", " permit ip 192.0.2.77 0.0.0.255 any")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(
            result.config.accessLists["acl"]?.entries.first?.source.prefix,
            IPPrefix("192.0.2.0/24"))
    }

    func testIPv6AccessList() throws {
        let result = parse(
            "ipv6 access-list v6",
            " sequence 10 permit ipv6 2001:db8:1::/48 2001:db8:2::/48",
            " permit icmp any host 2001:db8::1",
            " permit ip any any")
        XCTAssertEqual(result.lines(.error), [4], listing(result))
        let acl = try XCTUnwrap(result.config.accessLists["v6"])
        XCTAssertTrue(acl.isIPv6)
        guard acl.entries.count == 2 else {
            return XCTFail("expected 2, found \(acl.entries.count)")
        }
        XCTAssertEqual(acl.entries[0].source.prefix, IPPrefix("2001:db8:1::/48"))
        XCTAssertEqual(acl.entries[1].ipProtocol, 58, "icmp in an IPv6 list is ICMPv6")
        XCTAssertEqual(
            acl.trafficSelectors()[0].remote.endAddress,
            address("2001:db8:2:ffff:ffff:ffff:ffff:ffff"))
    }

    func testNumberedAccessList() {
        let result = parse(
            "access-list 101 remark crypto traffic",
            "access-list 101 permit ip 192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255",
            "access-list 101 permit tcp any any eq www",
            "access-list 10 permit 192.0.2.0 0.0.0.255")
        XCTAssertEqual(result.lines(.ignored), [4], listing(result))
        XCTAssertEqual(result.lines(.error), [])
        XCTAssertEqual(result.config.accessLists["101"]?.entries.count, 2)
        XCTAssertEqual(result.config.accessLists["101"]?.entries.last?.destination.ports, 80...80)
        XCTAssertNil(result.config.accessLists["10"])
    }

    func testInvalidEntriesRejected() {
        let result = parse(
            "ip access-list extended acl",
            " permit ip 192.0.2.0 0.255.0.255 any",
            " permit ip any eq 80 any",
            " permit tcp any neq 80 any",
            " permit tcp any any eq 80 443",
            " permit tcp any range 2000 1000 any",
            " permit icmp any any echo",
            " permit ip host 2001:db8::1 any",
            " permit ipv6 any any",
            " permit ip any",
            " 20 bogus",
            " permit ip any any")
        XCTAssertEqual(result.lines(.error), Array(2...11), listing(result))
        XCTAssertEqual(result.config.accessLists["acl"]?.entries.count, 1)
        XCTAssertTrue(result.errorMessage(0).contains("non-contiguous"), result.errorMessage(0))
    }

    func testIPv4AndIPv6NamesDoNotMix() {
        let result = parse("ip access-list extended same", "ipv6 access-list same")
        XCTAssertEqual(result.lines(.error), [2], listing(result))
        XCTAssertEqual(result.config.accessLists["same"]?.isIPv6, false)
    }
}
