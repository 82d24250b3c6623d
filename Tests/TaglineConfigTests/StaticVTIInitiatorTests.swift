// The static VTI initiator example of the IOS inline tagging feature guide,
// loaded unchanged from Fixtures/static-vti-initiator.cfg.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class StaticVTIInitiatorTests: XCTestCase {
    private var result: ConfigLoadResult!
    private var config: GatewayConfig { result.config }

    override func setUpWithError() throws {
        result = try loadFixture("static-vti-initiator.cfg")
    }

    func testProposalAndPolicy() throws {
        let proposal = try XCTUnwrap(config.ikev2Proposals["p1"])
        XCTAssertEqual(proposal.encryption, [.tripleDES])
        XCTAssertEqual(proposal.integrity, [.hmacMD5_96])
        XCTAssertEqual(proposal.prf, [.hmacMD5], "PRF derived from integrity md5")
        XCTAssertFalse(proposal.prfConfigured)
        // `group 2` starts at column 0 and still belongs to the proposal.
        XCTAssertEqual(proposal.groups, [.modp1024])
        XCTAssertEqual(config.ikev2Policies["policy1"]?.proposalNames, ["p1"])
        XCTAssertEqual(config.proposals(forLocal: IPAddress("172.16.0.1")!).map { $0.name }, ["p1"])
    }

    func testWildcardKeyringPeers() throws {
        let keyring = try XCTUnwrap(config.keyrings["key"])
        XCTAssertEqual(keyring.peers.map { $0.prefix }, [IPPrefix("::/0"), IPPrefix("0.0.0.0/0")])
        XCTAssertEqual(config.keyringPeer(for: IPAddress("10.1.1.2")!, in: "key")?.name, "v4")
        XCTAssertEqual(config.keyringPeer(for: IPAddress("2001:db8::1")!, in: "key")?.name, "peer")
    }

    func testProfile() throws {
        let profile = try XCTUnwrap(config.ikev2Profiles["prof3"])
        XCTAssertEqual(profile.matchRemoteAddresses, [IPPrefix("0.0.0.0/0")!])
        XCTAssertEqual(profile.localAuthentication, .preShare)
        XCTAssertEqual(profile.remoteAuthentication, [.preShare])
        XCTAssertEqual(profile.keyringName, "key")
        XCTAssertNil(profile.virtualTemplate)
        XCTAssertEqual(config.profile(matchingRemote: IPAddress("10.1.1.2")!)?.name, "prof3")
    }

    func testTransformSet() throws {
        let transformSet = try XCTUnwrap(config.transformSets["trans"])
        XCTAssertEqual(transformSet.encryption, .tripleDES)
        XCTAssertEqual(transformSet.integrity, .hmacSHA1_96)
        XCTAssertEqual(transformSet.mode, .tunnel)
        XCTAssertEqual(transformSet.description, "esp-3des esp-sha-hmac")
    }

    func testCryptoMapEntry() throws {
        let entries = try XCTUnwrap(config.cryptoMaps["cmap"])
        guard entries.count == 1 else { return XCTFail("expected 1, found \(entries.count)") }
        let entry = entries[0]
        XCTAssertEqual(entry.sequence, 1)
        XCTAssertEqual(entry.peers, [IPAddress("10.1.1.2")!])
        XCTAssertEqual(entry.transformSetNames, ["trans"])
        XCTAssertEqual(entry.ikev2ProfileName, "prof3")
        XCTAssertEqual(entry.accessListName, "ipv4acl")
        XCTAssertNil(entry.pfsGroup)
        XCTAssertEqual(config.lifetime(of: entry), SALifetime(seconds: 3600, kilobytes: 4_608_000))
    }

    func testAccessListHostPermits() throws {
        let acl = try XCTUnwrap(config.accessLists["ipv4acl"])
        XCTAssertFalse(acl.isIPv6)
        XCTAssertEqual(acl.entries.count, 4)
        let expected = [
            ("209.165.201.1", "192.168.12.125"), ("209.165.200.1", "172.18.0.1"),
            ("172.28.0.1", "10.10.10.1"), ("10.12.255.200", "192.168.14.1"),
        ]
        for (entry, pair) in zip(acl.entries, expected) {
            XCTAssertEqual(entry.action, .permit)
            XCTAssertEqual(entry.ipProtocol, 0)
            XCTAssertEqual(entry.source.prefix, IPPrefix(pair.0))
            XCTAssertEqual(entry.destination.prefix, IPPrefix(pair.1))
        }
        let selectors = acl.trafficSelectors()
        guard selectors.count == 4 else { return XCTFail("expected 4, found \(selectors.count)") }
        XCTAssertEqual(selectors[0].local.startAddress, IPAddress("209.165.201.1"))
        XCTAssertEqual(selectors[0].local.endAddress, IPAddress("209.165.201.1"))
        XCTAssertEqual(selectors[0].remote.startAddress, IPAddress("192.168.12.125"))
    }

    func testCTSSGTEnabled() {
        XCTAssertTrue(config.ctsSGTEnabled)
        XCTAssertEqual(config.cmdNextHeader, 253)
    }

    func testInterfaceWithCryptoMap() throws {
        let interface = try XCTUnwrap(config.interfaces["GigabitEthernet0/1"])
        XCTAssertEqual(interface.cryptoMapName, "cmap")
        XCTAssertEqual(
            interface.ipv4Addresses,
            [
                InterfaceAddress(address: IPAddress("172.16.0.1")!, prefixLength: 12)
            ])
        XCTAssertEqual(
            interface.ipv6Addresses,
            [
                InterfaceAddress(address: IPAddress("2001::5:1")!, prefixLength: 112)
            ])
        XCTAssertEqual(config.outsideInterfaces.map { $0.name }, ["GigabitEthernet0/1"])
        XCTAssertEqual(config.localAddress(of: interface, ipv4: true), IPAddress("172.16.0.1"))
        XCTAssertEqual(
            config.interfaceOrder,
            [
                "Loopback1", "Loopback2", "Embedded-Service-Engine0/0", "GigabitEthernet0/0",
                "GigabitEthernet0/1",
            ])
        XCTAssertTrue(config.interfaces["Embedded-Service-Engine0/0"]?.shutdown ?? false)
    }

    func testStaticRoutes() {
        // Line 68 has host bits set for its mask, so only two routes remain.
        XCTAssertEqual(config.staticRoutes.map { $0.line }, [67, 77])
        XCTAssertEqual(config.staticRoutes.first?.prefix, IPPrefix("0.0.0.0/0"))
        XCTAssertEqual(config.staticRoutes.first?.nextHop, IPAddress("172.16.0.2"))
        XCTAssertEqual(config.staticRoutes.last?.prefix, IPPrefix("::/0"))
        XCTAssertEqual(config.staticRoutes.last?.nextHop, IPAddress("2001::5:2"))
    }

    func testIgnoredLinesListedOnce() {
        let expected =
            [51, 52, 56, 57, 59, 62, 64, 65, 76, 82]
            + Array(86...98) + [100, 101]
        XCTAssertEqual(result.lines(.ignored), expected, listing(result))
        XCTAssertEqual(Set(result.lines(.ignored)).count, result.lines(.ignored).count)
        let logging = result.diagnostics.first { $0.line == 76 }
        XCTAssertEqual(
            logging?.description, "line 76: ignored (not implemented): logging esm config")
    }

    func testRouteWithHostBitsIsTheOnlyError() throws {
        XCTAssertEqual(result.lines(.error), [68], listing(result))
        let error = try XCTUnwrap(result.errors.first)
        XCTAssertEqual(error.text, "ip route 10.12.255.200 255.0.0.0 172.31.255.254")
        XCTAssertTrue(error.message.contains("address and mask are inconsistent"), error.message)
        XCTAssertTrue(error.message.contains("10.0.0.0/8"), error.message)
    }
}
