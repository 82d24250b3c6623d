// `cts role-based sgt-map` lines: accepted forms and rejected tags and prefixes.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class SGTMapTests: XCTestCase {
    func testPrefixAndHostBothParsed() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.0/24 sgt 10",
            "cts role-based sgt-map 192.0.2.10 sgt 20")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(
            result.config.sgtBindings,
            [
                ConfiguredBinding(prefix: IPPrefix("192.0.2.0/24")!, sgt: SGT(10)!, line: 1),
                ConfiguredBinding(prefix: IPPrefix("192.0.2.10/32")!, sgt: SGT(20)!, line: 2),
            ])
        XCTAssertEqual(result.config.bindings.map { $0.source }, [.config, .config])
    }

    func testHostKeywordAndIPv6() {
        let result = parse(
            "cts role-based sgt-map host 192.0.2.7 sgt 7",
            "cts role-based sgt-map 2001:db8::/32 sgt 600",
            "cts role-based sgt-map host 2001:db8::5 sgt 601")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(
            result.config.sgtBindings.map { $0.prefix },
            [
                IPPrefix("192.0.2.7/32")!, IPPrefix("2001:db8::/32")!, IPPrefix("2001:db8::5/128")!,
            ])
        XCTAssertEqual(result.config.sgtBindings.map { $0.sgt.value }, [7, 600, 601])
    }

    func testZeroReservedAndOutOfRangeRejected() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.1 sgt 0",
            "cts role-based sgt-map 192.0.2.1 sgt 65535",
            "cts role-based sgt-map 192.0.2.1 sgt 70000")
        XCTAssertEqual(result.config.sgtBindings, [])
        XCTAssertEqual(result.lines(.error), [1, 2, 3], listing(result))
        let messages = result.errors.map { $0.message }
        XCTAssertEqual(result.errorMessage(0), "SGT 0 means unknown and cannot be bound")
        XCTAssertEqual(result.errorMessage(1), "SGT 65535 (0xFFFF) is reserved and cannot be bound")
        XCTAssertEqual(result.errorMessage(2), "SGT 70000 is out of range (1-65534)")
        XCTAssertEqual(Set(messages).count, 3, "each rejection has its own message")
    }

    func testPrefixWithHostBitsRejected() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.1/24 sgt 10",
            "cts role-based sgt-map 2001:db8::1/32 sgt 10")
        XCTAssertEqual(result.lines(.error), [1, 2], listing(result))
        XCTAssertTrue(result.errorMessage(0).contains("192.0.2.0/24"), result.errorMessage(0))
        XCTAssertTrue(result.errorMessage(1).contains("host bits"), result.errorMessage(1))
        XCTAssertEqual(result.config.sgtBindings, [])
    }

    func testMalformedLinesRejected() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.0/24 10",
            "cts role-based sgt-map 192.0.2.0/24 sgt",
            "cts role-based sgt-map 192.0.2.0/24 sgt ten",
            "cts role-based sgt-map 192.0.2.0/33 sgt 10",
            "cts role-based sgt-map 192.0.2.0/24 sgt 10 extra",
            "cts role-based sgt-map host sgt 10")
        XCTAssertEqual(result.lines(.error), [1, 2, 3, 4, 5, 6], listing(result))
        XCTAssertEqual(result.errorMessage(0), "missing keyword 'sgt' after 192.0.2.0/24")
        XCTAssertEqual(result.config.sgtBindings, [])
    }

    func testRepeatedPrefixReplacesEarlierTag() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.0/24 sgt 10",
            "cts role-based sgt-map 198.51.100.0/24 sgt 11",
            "cts role-based sgt-map 192.0.2.0/24 sgt 12")
        XCTAssertEqual(result.config.sgtBindings.map { $0.sgt.value }, [12, 11])
        XCTAssertEqual(result.config.sgtBindings.first?.line, 3)
    }

    func testVRFFormIgnored() {
        let result = parse("cts role-based sgt-map vrf blue 192.0.2.0/24 sgt 10")
        XCTAssertEqual(result.lines(.ignored), [1])
        XCTAssertEqual(result.config.sgtBindings, [])
    }
}
