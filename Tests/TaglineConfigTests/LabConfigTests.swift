// The configuration of lab gateway 1 (Fixtures/lab-gw1.cfg), which the demo uses.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class LabConfigTests: XCTestCase {
    private var result: ConfigLoadResult!
    private var config: GatewayConfig { result.config }

    override func setUpWithError() throws {
        result = try loadFixture("lab-gw1.cfg")
    }

    func testLoadsWithoutDiagnostics() {
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertFalse(result.hasErrors)
    }

    func testIKEv2Settings() throws {
        let proposals = config.proposals(forLocal: IPAddress("198.51.100.1")!)
        XCTAssertEqual(proposals.map { $0.name }, ["lab"])
        let proposal = try XCTUnwrap(proposals.first)
        XCTAssertEqual(proposal.encryption, [.aesCBC128])
        XCTAssertEqual(proposal.integrity, [.hmacSHA256_128])
        XCTAssertEqual(proposal.prf, [.hmacSHA256])
        XCTAssertEqual(proposal.groups, [.ecp256])
        XCTAssertTrue(proposal.isComplete)

        let peer = try XCTUnwrap(config.keyringPeer(for: IPAddress("198.51.100.2")!, in: "labkeys"))
        XCTAssertEqual(peer.name, "gw2")
        XCTAssertEqual(peer.prefix, IPPrefix("198.51.100.2/32"))
        XCTAssertEqual(peer.localKey?.bytes, Array("lab-secret".utf8))
        XCTAssertEqual(peer.remoteKey?.bytes, Array("lab-secret".utf8))
        XCTAssertNil(config.keyringPeer(for: IPAddress("198.51.100.3")!, in: "labkeys"))

        let profile = try XCTUnwrap(config.profile(matchingRemote: IPAddress("198.51.100.2")!))
        XCTAssertEqual(profile.name, "lab")
        XCTAssertEqual(profile.keyringName, "labkeys")
        XCTAssertEqual(profile.lifetimeSeconds, 86400)
        XCTAssertNil(config.profile(matchingRemote: IPAddress("198.51.100.3")!))
        XCTAssertTrue(config.ctsSGTEnabled)
    }

    func testCryptoMapAndSelectors() throws {
        let entry = try XCTUnwrap(config.cryptoMaps["cmap"]?.first)
        XCTAssertEqual(entry.sequence, 10)
        XCTAssertEqual(entry.peers, [IPAddress("198.51.100.2")!])
        XCTAssertEqual(
            config.transformSets(named: entry.transformSetNames).map { $0.encryption },
            [.aesGCM128])
        XCTAssertNil(config.transformSets["ts"]?.integrity)
        XCTAssertEqual(config.transformSets["ts"]?.description, "esp-gcm 128")

        let acl = try XCTUnwrap(config.accessLists[entry.accessListName ?? ""])
        let selectors = acl.trafficSelectors()
        guard selectors.count == 1 else { return XCTFail("expected 1, found \(selectors.count)") }
        XCTAssertEqual(selectors[0].local, TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!))
        XCTAssertEqual(selectors[0].remote, TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!))
    }

    func testInterfacesAndBindings() throws {
        XCTAssertEqual(config.interfaceOrder, ["in0", "out0"])
        XCTAssertEqual(config.outsideInterfaces.map { $0.name }, ["out0"])
        let outside = try XCTUnwrap(config.interface(carryingCryptoMap: "cmap"))
        XCTAssertEqual(config.localAddress(of: outside, ipv4: true), IPAddress("198.51.100.1"))
        XCTAssertNil(config.localAddress(of: outside, ipv4: false))
        XCTAssertEqual(config.interface(owning: IPAddress("192.0.2.1")!)?.name, "in0")
        XCTAssertEqual(
            config.sgtBindings.map { $0.prefix },
            [
                IPPrefix("192.0.2.0/24")!, IPPrefix("192.0.2.2/32")!,
            ])
        XCTAssertEqual(config.sgtBindings.map { $0.sgt.value }, [100, 333])
    }
}
