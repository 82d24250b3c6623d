// Dynamic crypto maps: `crypto dynamic-map` blocks, their expansion into the
// crypto map that refers to them, evaluation order and reference errors.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class DynamicCryptoMapTests: XCTestCase {
    /// Definitions that the entries below refer to; the interface is line 11.
    private let base = [
        "crypto ikev2 keyring ring",
        "crypto ikev2 profile prof",
        " match identity remote address 0.0.0.0",
        " authentication local pre-share",
        " authentication remote pre-share",
        " keyring local ring",
        "crypto ipsec transform-set a esp-aes 256 esp-sha256-hmac",
        "crypto ipsec transform-set b esp-gcm 256",
        "ip access-list extended acl",
        " permit ip 192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255",
        "interface out0",
        " ip address 198.51.100.1 255.255.255.0",
        " crypto map cmap",
    ]

    private func parseWithBase(_ lines: String...) -> ConfigLoadResult {
        ConfigLoader.parse(text: (base + lines).joined(separator: "\n"))
    }

    func testResponderOnlyMap() throws {
        let result = parseWithBase(
            "crypto dynamic-map dmap 20",
            " set transform-set b",
            " match address acl",
            "crypto dynamic-map dmap 10",
            " set peer 198.51.100.7",
            " set transform-set a b",
            " set ikev2-profile prof",
            " match address acl",
            " set pfs group14",
            " set security-association lifetime seconds 1800",
            "crypto map cmap 100 ipsec-isakmp dynamic dmap")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let config = result.config
        let entries = try XCTUnwrap(config.cryptoMaps["cmap"])
        XCTAssertEqual(entries.map { $0.sequence }, [100, 100])
        XCTAssertEqual(entries.map { $0.dynamicMapSequence }, [10, 20])
        XCTAssertEqual(entries.map { $0.line }, [17, 14])
        guard entries.count == 2 else { return XCTFail("expected two entries") }

        let first = entries[0]
        XCTAssertEqual(first.mapName, "cmap")
        XCTAssertEqual(first.dynamicMapName, "dmap")
        XCTAssertTrue(first.isDynamic)
        XCTAssertEqual(first.peers, [IPAddress("198.51.100.7")!])
        XCTAssertEqual(first.transformSetNames, ["a", "b"])
        XCTAssertEqual(first.ikev2ProfileName, "prof")
        XCTAssertEqual(first.accessListName, "acl")
        XCTAssertEqual(first.pfsGroup, .modp2048)
        XCTAssertEqual(config.lifetime(of: first).seconds, 1800)
        XCTAssertEqual(entries[1].peers, [])
        XCTAssertEqual(entries[1].transformSetNames, ["b"])
        XCTAssertEqual(entries[1].accessListName, "acl")

        let template = try XCTUnwrap(config.dynamicMaps["dmap"])
        XCTAssertEqual(template.map { $0.sequence }, [10, 20])
        XCTAssertEqual(template.map { $0.mapName }, ["dmap", "dmap"])
        XCTAssertEqual(template.map { $0.dynamicMapName }, [nil, nil])
        XCTAssertEqual(config.initiatorCryptoMapEntries(of: "cmap"), [])
        XCTAssertEqual(config.responderCryptoMapEntries(of: "cmap"), entries)
        XCTAssertEqual(config.outsideInterfaces.map { $0.name }, ["out0"])
    }

    func testStaticEntriesFirst() throws {
        let result = parseWithBase(
            "crypto dynamic-map dmap 10",
            " set transform-set a",
            " match address acl",
            "crypto map cmap 5 ipsec-isakmp dynamic dmap",
            "crypto map cmap 30",
            " set peer 198.51.100.2",
            " set transform-set b",
            " match address acl",
            "crypto map cmap 10",
            " set peer 198.51.100.3",
            " set transform-set a",
            " match address acl")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let config = result.config
        let entries = config.responderCryptoMapEntries(of: "cmap")
        XCTAssertEqual(entries.map { $0.sequence }, [10, 30, 5])
        XCTAssertEqual(entries.map { $0.isDynamic }, [false, false, true])
        XCTAssertEqual(config.cryptoMaps["cmap"], entries)
        XCTAssertEqual(config.allCryptoMapEntries, entries)
        XCTAssertEqual(config.initiatorCryptoMapEntries(of: "cmap").map { $0.sequence }, [10, 30])
    }

    func testUndefinedDynamicMap() {
        let result = parseWithBase("crypto map cmap 10 ipsec-isakmp dynamic missing")
        XCTAssertEqual(result.lines(.error), [13, 14], listing(result))
        XCTAssertEqual(result.errorMessage(0), "crypto map cmap was rejected at line 14")
        XCTAssertEqual(result.errorMessage(1), "dynamic map missing is not defined")
        XCTAssertEqual(result.errorText(1), "crypto map cmap 10 ipsec-isakmp dynamic missing")
        XCTAssertNil(result.config.cryptoMaps["cmap"])
        XCTAssertNil(result.config.interfaces["out0"]?.cryptoMapName)
    }

    func testUndefinedDynamicMapKeepsStatic() throws {
        let result = parseWithBase(
            "crypto map cmap 10",
            " set peer 198.51.100.2",
            " set transform-set a",
            " match address acl",
            "crypto map cmap 20 ipsec-isakmp dynamic missing")
        XCTAssertEqual(result.lines(.error), [18], listing(result))
        XCTAssertEqual(result.errorMessage(0), "dynamic map missing is not defined")
        let entries = try XCTUnwrap(result.config.cryptoMaps["cmap"])
        XCTAssertEqual(entries.map { $0.sequence }, [10])
        XCTAssertEqual(entries.map { $0.isDynamic }, [false])
    }

    func testUndefinedTransformSet() {
        let result = parseWithBase(
            "crypto dynamic-map dmap 10",
            " set transform-set missing-ts",
            " match address acl",
            "crypto map cmap 10 ipsec-isakmp dynamic dmap")
        XCTAssertEqual(result.lines(.error), [13, 14, 15, 17], listing(result))
        XCTAssertEqual(result.errorMessage(0), "crypto map cmap was rejected at line 17")
        XCTAssertEqual(
            result.errorMessage(1), "dynamic map dmap 10 is incomplete: no transform set")
        XCTAssertEqual(result.errorMessage(2), "transform set missing-ts is not defined")
        XCTAssertEqual(result.errorMessage(3), "dynamic map dmap was rejected at line 14")
        XCTAssertNil(result.config.dynamicMaps["dmap"])
        XCTAssertNil(result.config.cryptoMaps["cmap"])
    }

    func testMissingAccessList() {
        let result = parseWithBase(
            "crypto dynamic-map dmap 10",
            " set transform-set a",
            "crypto dynamic-map dmap 20",
            " set transform-set b",
            " match address acl",
            "crypto map cmap 10 ipsec-isakmp dynamic dmap")
        XCTAssertEqual(result.lines(.error), [14], listing(result))
        XCTAssertEqual(
            result.errorMessage(0),
            "dynamic map dmap 10 is incomplete: no 'match address' "
                + "(Tagline needs an access list here)")
        XCTAssertEqual(result.config.cryptoMaps["cmap"]?.map { $0.dynamicMapSequence }, [20])
    }

    func testConflictingEntries() throws {
        let result = parseWithBase(
            "crypto dynamic-map dmap 10",
            " set transform-set a",
            " match address acl",
            " reverse-route",
            " bogus-word",
            "crypto map cmap 10",
            " set peer 198.51.100.2",
            " set transform-set a",
            " match address acl",
            "crypto map cmap 10 ipsec-isakmp dynamic dmap",
            "crypto map cmap 20 ipsec-isakmp dynamic dmap",
            "crypto map cmap 20 ipsec-isakmp dynamic dmap",
            "crypto map cmap 20 ipsec-isakmp dynamic other",
            "crypto map cmap 20",
            " set peer 198.51.100.9",
            "crypto map cmap 30 ipsec-isakmp dynamic dmap discover")
        XCTAssertEqual(result.lines(.error), [18, 23, 26, 27, 29], listing(result))
        XCTAssertEqual(result.lines(.ignored), [17, 28], listing(result))
        XCTAssertEqual(
            result.errorMessage(0), "unknown command in dynamic map dmap 10 mode or global mode")
        XCTAssertEqual(
            result.errorMessage(1),
            "crypto map cmap 10 is already a static entry at line 19 "
                + "(choose another sequence number)")
        let conflict =
            "crypto map cmap 20 already refers to dynamic map dmap at line 24 "
            + "(choose another sequence number)"
        XCTAssertEqual(result.errorMessage(2), conflict)
        XCTAssertEqual(result.errorMessage(3), conflict)
        XCTAssertEqual(
            result.errorMessage(4),
            "unexpected 'discover' after 'crypto map cmap 30 ipsec-isakmp dynamic dmap'")

        let entries = try XCTUnwrap(result.config.cryptoMaps["cmap"])
        XCTAssertEqual(entries.map { $0.sequence }, [10, 20])
        XCTAssertEqual(entries.map { $0.isDynamic }, [false, true])
        XCTAssertEqual(entries.first?.peers, [IPAddress("198.51.100.2")!])
    }
}
