// Interfaces, addresses and static routes.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class InterfaceTests: XCTestCase {
    func testAddressesPrimarySecondaryAndIPv6() throws {
        let result = parse(
            "interface out0",
            " description uplink to gw2",
            " ip address 198.51.100.1 255.255.255.0",
            " ip address 203.0.113.1 255.255.255.128 secondary",
            " ipv6 address 2001:db8::1/64",
            " ipv6 address FE80::1 link-local",
            " shutdown",
            " no shutdown")
        XCTAssertEqual(result.lines(.ignored), [6], listing(result))
        XCTAssertEqual(result.lines(.error), [])
        let interface = try XCTUnwrap(result.config.interfaces["out0"])
        XCTAssertEqual(interface.description, "uplink to gw2")
        XCTAssertEqual(
            interface.ipv4Addresses.map { $0.description },
            ["198.51.100.1/24", "203.0.113.1/25"])
        XCTAssertEqual(interface.ipv4Addresses.map { $0.secondary }, [false, true])
        XCTAssertEqual(interface.ipv4Addresses[0].subnet, IPPrefix("198.51.100.0/24"))
        XCTAssertEqual(interface.ipv6Addresses.map { $0.description }, ["2001:db8::1/64"])
        XCTAssertFalse(interface.shutdown)
        XCTAssertEqual(
            result.config.localAddress(of: interface, ipv4: false), IPAddress("2001:db8::1"))
    }

    func testNewPrimaryReplacesOld() {
        let result = parse(
            "interface out0",
            " ip address 198.51.100.1 255.255.255.0",
            " ip address 198.51.100.9 255.255.255.0")
        XCTAssertEqual(
            result.config.interfaces["out0"]?.ipv4Addresses.map { $0.description },
            ["198.51.100.9/24"])
    }

    func testInconsistentAddressesRejected() {
        let result = parse(
            "interface out0",
            " ip address 198.51.100.0 255.255.255.0",
            " ip address 198.51.100.255 255.255.255.0",
            " ip address 198.51.100.1 255.0.255.0",
            " ip address 198.51.100.1",
            " ip address 203.0.113.1 255.255.255.0 secondary",
            " ip address 198.51.100.1 255.255.255.254",
            " ipv6 address 2001:db8::1/129")
        XCTAssertEqual(result.lines(.error), [2, 3, 4, 5, 6, 8], listing(result))
        XCTAssertTrue(result.errorMessage(0).hasPrefix("address and mask are inconsistent"))
        XCTAssertEqual(
            result.errorMessage(2),
            "invalid mask 255.0.255.0: the one bits are not contiguous")
        XCTAssertEqual(
            result.config.interfaces["out0"]?.ipv4Addresses.map { $0.description },
            ["198.51.100.1/31"])
    }

    func testInterfaceTypeAndNumberJoined() {
        let result = parse(
            "interface GigabitEthernet 0/1",
            " crypto map cmap",
            "interface Virtual-Template1 type tunnel",
            "interface Loopback0 type ethernet")
        XCTAssertEqual(result.config.interfaceOrder, ["GigabitEthernet0/1", "Virtual-Template1"])
        XCTAssertEqual(result.config.interfaces["Virtual-Template1"]?.isVirtualTemplate, true)
        // `crypto map cmap` names a map that does not exist; line 4 has an invalid type.
        XCTAssertEqual(result.lines(.error), [2, 4], listing(result))
    }

    func testUndefinedInterfacesReported() {
        let result = parse(
            "interface Tunnel0",
            " ip unnumbered Loopback9",
            " tunnel source Ethernet9",
            " tunnel source 198.51.100.1",
            "interface Tunnel1",
            " tunnel source Ethernet9")
        XCTAssertEqual(result.lines(.error), [2, 3, 6], listing(result))
        XCTAssertEqual(result.errorMessage(0), "interface Loopback9 is not defined")
        XCTAssertEqual(
            result.config.interfaces["Tunnel0"]?.tunnelSource,
            .address(IPAddress("198.51.100.1")!))
        XCTAssertNil(result.config.interfaces["Tunnel1"]?.tunnelSource)
    }

    func testStaticRoutes() {
        let result = parse(
            "ip route 0.0.0.0 0.0.0.0 198.51.100.254",
            "ip route 203.0.113.0 255.255.255.0 out0 198.51.100.2 5 name to-gw2",
            "ip route 192.0.2.128 255.255.255.128 Null0",
            "ipv6 route 2001:db8:1::/48 2001:db8::2",
            "ipv6 route 2001:db8:1::1/48 2001:db8::2",
            "ip route 192.0.2.0 255.255.255.0 2001:db8::1",
            "ip route 192.0.2.0 255.255.255.0 198.51.100.2 300",
            "ip route 192.0.2.0 255.255.255.0 198.51.100.2 bogus",
            "ip route vrf blue 0.0.0.0 0.0.0.0 198.51.100.1")
        XCTAssertEqual(result.lines(.error), [5, 6, 7, 8], listing(result))
        XCTAssertEqual(result.lines(.ignored), [9])
        let routes = result.config.staticRoutes
        guard routes.count == 4 else { return XCTFail("expected 4, found \(routes.count)") }
        XCTAssertEqual(routes[1].prefix, IPPrefix("203.0.113.0/24"))
        XCTAssertEqual(routes[1].interfaceName, "out0")
        XCTAssertEqual(routes[1].nextHop, IPAddress("198.51.100.2"))
        XCTAssertEqual(routes[1].distance, 5)
        XCTAssertEqual(routes[2].interfaceName, "Null0")
        XCTAssertNil(routes[2].nextHop)
        XCTAssertEqual(routes[3].prefix, IPPrefix("2001:db8:1::/48"))
    }
}
