// `cts sgt N`: the gateway's own SGT and the INTERNAL bindings it gives each
// interface address.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class DeviceSGTTests: XCTestCase {
    func testInterfaceAddressesBound() {
        let result = parse(
            "cts sgt 2",
            "interface GigabitEthernet1",
            " ip address 192.0.2.1 255.255.255.0",
            " ip address 198.51.100.1 255.255.255.0 secondary",
            " ipv6 address 2001:db8::1/64",
            "interface Loopback0",
            " ip address 203.0.113.1 255.255.255.255")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.deviceSGT, SGT(2))
        XCTAssertEqual(
            result.config.internalBindings.map { $0.prefix },
            [
                IPPrefix("192.0.2.1/32")!, IPPrefix("198.51.100.1/32")!,
                IPPrefix("2001:db8::1/128")!, IPPrefix("203.0.113.1/32")!,
            ])
        XCTAssertEqual(Set(result.config.internalBindings.map { $0.sgt }), [SGT(2)!])
    }

    func testNoLineNoBindings() {
        let result = parse("interface GigabitEthernet1", " ip address 192.0.2.1 255.255.255.0")
        XCTAssertNil(result.config.deviceSGT)
        XCTAssertTrue(result.config.internalBindings.isEmpty)
    }

    func testBadTagsRejected() {
        let result = parse("cts sgt 0", "cts sgt 65535", "cts sgt x", "cts sgt", "cts sgt 5 extra")
        XCTAssertEqual(result.lines(.error), [1, 2, 3, 4, 5], listing(result))
        XCTAssertNil(result.config.deviceSGT)
    }

    func testLaterLineWins() {
        let result = parse("cts sgt 5", "cts sgt 6")
        XCTAssertEqual(result.config.deviceSGT, SGT(6))
        XCTAssertEqual(result.lines(.warning), [2], listing(result))
    }
}
