// `crypto ipsec fragmentation before-encryption | after-encryption` in
// global and interface mode.

import XCTest

@testable import TaglineConfig

final class FragmentationConfigTests: XCTestCase {
    func testDefault() {
        let result = parse("interface eth1", " ip address 198.51.100.1 255.255.255.0")
        XCTAssertEqual(result.config.ipsecFragmentation, .beforeEncryption)
        XCTAssertEqual(result.config.ipsecFragmentation(onInterface: "eth1"), .beforeEncryption)
    }

    func testGlobal() {
        let result = parse(
            "crypto ipsec fragmentation after-encryption", "interface eth1",
            " ip address 198.51.100.1 255.255.255.0")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.ipsecFragmentation, .afterEncryption)
        XCTAssertEqual(result.config.ipsecFragmentation(onInterface: "eth1"), .afterEncryption)
        XCTAssertNil(result.config.interfaces["eth1"]?.ipsecFragmentation)
    }

    func testInterfaceOverridesGlobal() {
        let result = parse(
            "crypto ipsec fragmentation after-encryption",
            "interface eth1", " crypto ipsec fragmentation before-encryption",
            "interface eth2", " crypto ipsec fragmentation after-encryption",
            " no crypto ipsec fragmentation after-encryption",
            "interface eth3", " crypto ipsec fragmentation after-encryption")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.ipsecFragmentation(onInterface: "eth1"), .beforeEncryption)
        XCTAssertEqual(result.config.interfaces["eth2"]?.ipsecFragmentation, nil)
        XCTAssertEqual(result.config.interfaces["eth3"]?.ipsecFragmentation, .afterEncryption)
        XCTAssertEqual(result.config.ipsecFragmentation, .afterEncryption)
    }

    func testInvalidLines() {
        let rows: [(line: String, message: String)] = [
            (
                "crypto ipsec fragmentation",
                "incomplete command 'crypto ipsec fragmentation' (expected before-encryption "
                    + "or after-encryption after it)"
            ),
            (
                "crypto ipsec fragmentation sideways",
                "unknown command 'crypto ipsec fragmentation sideways' (expected "
                    + "before-encryption or after-encryption after 'crypto ipsec fragmentation')"
            ),
            (
                "crypto ipsec fragmentation after-encryption now",
                "unexpected 'now' after 'crypto ipsec fragmentation after-encryption'"
            ),
        ]
        for row in rows {
            let result = parse(row.line)
            XCTAssertEqual(result.lines(.error), [1], row.line)
            XCTAssertEqual(result.errorMessage(0), row.message, row.line)
            XCTAssertEqual(result.config.ipsecFragmentation, .beforeEncryption, row.line)
        }
        let inInterface = parse("interface eth1", " crypto ipsec fragmentation later")
        XCTAssertEqual(inInterface.lines(.error), [2], listing(inInterface))
        XCTAssertNil(inInterface.config.interfaces["eth1"]?.ipsecFragmentation)
    }
}
