// The dynamic VTI responder example of the IOS inline tagging feature guide,
// loaded unchanged from Fixtures/dynamic-vti-responder.cfg.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class DynamicVTIResponderTests: XCTestCase {
    private var result: ConfigLoadResult!
    private var config: GatewayConfig { result.config }

    override func setUpWithError() throws {
        result = try loadFixture("dynamic-vti-responder.cfg")
    }

    func testMissingIKEv2ProfileIsAnError() throws {
        let error = try XCTUnwrap(result.errors.first { $0.line == 31 }, listing(result))
        XCTAssertEqual(error.text, "set ikev2-profile prof1_ipv4")
        XCTAssertEqual(error.message, "ikev2 profile prof1_ipv4 is not defined")
        XCTAssertEqual(
            error.description,
            "line 31: error: ikev2 profile prof1_ipv4 is not defined (set ikev2-profile prof1_ipv4)"
        )
        // The rejected reference is not kept, the rest of the profile is.
        XCTAssertNil(config.ipsecProfiles["prof_ipv4"]?.ikev2ProfileName)
        XCTAssertEqual(config.ipsecProfiles["prof_ipv4"]?.transformSetNames, ["trans"])
    }

    func testErrorsAreTheProfileAndTheRoute() {
        // Line 101: 172.17.0.0 has host bits set for 255.240.0.0.
        XCTAssertEqual(result.lines(.error), [31, 101], listing(result))
    }

    func testVirtualTemplateWithTunnelProtection() throws {
        let template = try XCTUnwrap(config.interfaces["Virtual-Template25"])
        XCTAssertTrue(template.isVirtualTemplate)
        XCTAssertEqual(template.unnumberedInterface, "GigabitEthernet0/0")
        XCTAssertEqual(template.tunnelMode, .ipsecIPv4)
        XCTAssertEqual(template.tunnelProtectionProfile, "prof_ipv4")
        XCTAssertEqual(config.localAddress(of: template, ipv4: true), IPAddress("10.1.1.2"))
    }

    func testProposal() throws {
        let proposal = try XCTUnwrap(config.ikev2Proposals["p1"])
        XCTAssertEqual(proposal.groups, [.modp1024])
        XCTAssertEqual(proposal.encryption, [.tripleDES])
        XCTAssertEqual(proposal.integrity, [.hmacMD5_96])
    }

    func testKeyringPeersKeepTheirMasks() throws {
        let keyring = try XCTUnwrap(config.keyrings["key"])
        XCTAssertEqual(keyring.peers.map { $0.name }, ["peer", "v4_p2"])
        guard keyring.peers.count == 2 else { return XCTFail("expected two peers") }

        let first = keyring.peers[0]
        XCTAssertEqual(first.address, IPAddress("172.160.1.1"))
        XCTAssertEqual(first.prefixLength, 12, "255.240.0.0")
        XCTAssertEqual(first.prefix, IPPrefix("172.160.0.0/12"))
        XCTAssertEqual(first.localKey, SecretBytes(Array("cisco".utf8)))
        XCTAssertEqual(first.remoteKey, SecretBytes(Array("cisco".utf8)))

        let second = keyring.peers[1]
        XCTAssertEqual(second.address, IPAddress("172.31.255.1"))
        XCTAssertEqual(second.prefixLength, 12)
        XCTAssertEqual(second.prefix, IPPrefix("172.16.0.0/12"))

        XCTAssertEqual(config.keyringPeer(for: IPAddress("172.160.9.9")!, in: "key")?.name, "peer")
        XCTAssertEqual(config.keyringPeer(for: IPAddress("172.20.0.1")!, in: "key")?.name, "v4_p2")
        XCTAssertNil(config.keyringPeer(for: IPAddress("10.1.1.1")!, in: "key"))
    }

    func testProfileWithVirtualTemplate() throws {
        let profile = try XCTUnwrap(config.ikev2Profiles["prof"])
        XCTAssertEqual(profile.virtualTemplate, 25)
        XCTAssertEqual(profile.keyringName, "key")
        XCTAssertEqual(config.profile(matchingRemote: IPAddress("10.10.10.1")!)?.name, "prof")
        XCTAssertNil(config.profile(matchingRemote: IPAddress("2001:db8::1")!))
    }

    func testTransformSetNullWithSHA() throws {
        let transformSet = try XCTUnwrap(config.transformSets["trans"])
        XCTAssertEqual(transformSet.encryption, .null)
        XCTAssertEqual(transformSet.integrity, .hmacSHA1_96)
        XCTAssertEqual(transformSet.description, "esp-null esp-sha-hmac")
    }

    func testInterfacesWithoutAddress() {
        XCTAssertEqual(config.interfaces["Loopback10"]?.ipv4Addresses, [])
        XCTAssertEqual(
            config.interfaces["Loopback10"]?.ipv6Addresses.first?.description,
            "2001::8:1/112")
        XCTAssertEqual(config.interfaceOrder.count, 15)
        XCTAssertTrue(config.ctsSGTEnabled)
    }

    func testIgnoredLinesListedOnce() {
        let expected =
            [57, 58, 60, 64, 65, 69, 70, 95, 97, 98, 103, 106]
            + Array(110...122) + [124, 125]
        XCTAssertEqual(result.lines(.ignored), expected, listing(result))
    }
}
