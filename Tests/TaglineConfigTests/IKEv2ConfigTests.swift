// IKEv2 proposals, policies, keyrings and profiles, with the lookups built on them.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class IKEv2ConfigTests: XCTestCase {
    private let local = IPAddress("198.51.100.1")!

    func testPRFDerivedOrConfigured() {
        let result = parse(
            "crypto ikev2 proposal derived",
            " encryption aes-cbc-256 3des",
            " integrity sha256 sha1 md5",
            " group 14 2",
            "crypto ikev2 proposal explicit",
            " encryption aes-gcm-256 aes-gcm-128",
            " prf sha256",
            " group 19")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let derived = result.config.ikev2Proposals["derived"]
        XCTAssertEqual(derived?.prf, [.hmacSHA256, .hmacSHA1, .hmacMD5])
        XCTAssertEqual(derived?.encryption, [.aesCBC256, .tripleDES])
        XCTAssertEqual(derived?.groups, [.modp2048, .modp1024])
        let explicit = result.config.ikev2Proposals["explicit"]
        XCTAssertEqual(explicit?.prf, [.hmacSHA256])
        XCTAssertEqual(explicit?.prfConfigured, true)
        XCTAssertEqual(explicit?.integrity, [])
        XCTAssertEqual(explicit?.isComplete, true)
    }

    func testAEADRulesInProposal() {
        let result = parse(
            "crypto ikev2 proposal p",
            " encryption aes-gcm-128",
            " integrity sha1",
            " encryption aes-cbc-128",
            " encryption null",
            " integrity sha512",
            " prf sha384",
            " group 24")
        XCTAssertEqual(result.lines(.error), [1, 3, 4, 5, 6, 7, 8], listing(result))
        XCTAssertEqual(
            result.errorMessage(0),
            "ikev2 proposal p is incomplete: no prf, which aes-gcm proposals must configure")
        XCTAssertEqual(
            result.errorMessage(1),
            "integrity cannot be configured with aes-gcm, which authenticates by itself")
        XCTAssertTrue(
            result.errorMessage(2).hasPrefix("aes-gcm and CBC ciphers cannot share a proposal"),
            result.errorMessage(2))
        XCTAssertTrue(
            result.errorMessage(3).hasPrefix("encryption algorithm 'null' is not supported"),
            result.errorMessage(3))
        XCTAssertEqual(
            result.errorMessage(4),
            "integrity algorithm 'sha512' is not supported (supported: md5 sha1 sha256)")
        XCTAssertEqual(
            result.errorMessage(5),
            "prf algorithm 'sha384' is not supported (supported: md5 sha1 sha256)")
        XCTAssertEqual(
            result.errorMessage(6),
            "DH group '24' is invalid or not supported (supported: 2 5 14 15 19 20 21 31)")
        XCTAssertNil(result.config.ikev2Proposals["p"])
    }

    func testIncompleteProposalRejected() {
        let result = parse(
            "crypto ikev2 proposal noint",
            " encryption aes-cbc-128",
            " group 14",
            "crypto ikev2 proposal gcmnoprf",
            " encryption aes-gcm-128",
            " group 19",
            "crypto ikev2 policy pol",
            " proposal noint gcmnoprf")
        XCTAssertEqual(result.lines(.error), [1, 4, 7, 8, 8], listing(result))
        XCTAssertEqual(result.errorMessage(0), "ikev2 proposal noint is incomplete: no integrity")
        XCTAssertEqual(
            result.errorMessage(2),
            "ikev2 policy pol has no usable proposal, so it matches no IKE SA")
        XCTAssertEqual(result.errorMessage(3), "ikev2 proposal noint was rejected at line 1")
        // The policy stays, empty, so IKE fails closed instead of using the default proposal.
        XCTAssertEqual(result.config.ikev2Policies["pol"]?.proposalNames, [])
        XCTAssertEqual(result.config.proposals(forLocal: local), [])
    }

    func testDefaultProposalWithoutPolicy() {
        let result = parse(
            "crypto ikev2 proposal unused",
            " encryption aes-cbc-128",
            " integrity sha1",
            " group 14")
        XCTAssertEqual(
            result.config.proposals(forLocal: local),
            [GatewayConfig.defaultIKEv2Proposal])
        XCTAssertTrue(GatewayConfig.defaultIKEv2Proposal.isComplete)
    }

    func testPolicyMatchAddressLocalWins() {
        let result = parse(
            "crypto ikev2 proposal a",
            " encryption aes-cbc-128",
            " integrity sha1",
            " group 14",
            "crypto ikev2 proposal b",
            " encryption aes-cbc-256",
            " integrity sha256",
            " group 19",
            "crypto ikev2 policy general",
            " proposal a",
            "crypto ikev2 policy specific",
            " match address local 198.51.100.1",
            " proposal b",
            " proposal a")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.proposals(forLocal: local).map { $0.name }, ["b", "a"])
        let other = IPAddress("198.51.100.7")!
        XCTAssertEqual(result.config.proposals(forLocal: other).map { $0.name }, ["a"])
    }

    func testKeyringMostSpecificPeerWins() {
        let result = parse(
            "crypto ikev2 keyring ring",
            " peer any4",
            "  address 0.0.0.0 0.0.0.0",
            "  pre-shared-key wild",
            " peer lab",
            "  address 198.51.100.0 255.255.255.0",
            "  pre-shared-key local mine",
            "  pre-shared-key remote theirs",
            " peer exact",
            "  address 198.51.100.2",
            "  identity address 198.51.100.22",
            "  pre-shared-key 0 exact key with spaces",
            " peer v6",
            "  address 2001:db8::/32",
            "  pre-shared-key six")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let config = result.config
        XCTAssertEqual(
            config.keyringPeer(for: IPAddress("198.51.100.2")!, in: "ring")?.name, "exact")
        XCTAssertEqual(config.keyringPeer(for: IPAddress("198.51.100.3")!, in: "ring")?.name, "lab")
        XCTAssertEqual(config.keyringPeer(for: IPAddress("203.0.113.1")!, in: "ring")?.name, "any4")
        XCTAssertEqual(config.keyringPeer(for: IPAddress("2001:db8::9")!, in: "ring")?.name, "v6")
        XCTAssertNil(config.keyringPeer(for: IPAddress("2001:db9::9")!, in: "ring"))
        XCTAssertNil(config.keyringPeer(for: IPAddress("198.51.100.2")!, in: "missing"))

        let lab = config.keyringPeer(for: IPAddress("198.51.100.3")!, in: "ring")
        XCTAssertEqual(lab?.localKey?.bytes, Array("mine".utf8))
        XCTAssertEqual(lab?.remoteKey?.bytes, Array("theirs".utf8))
        let exact = config.keyringPeer(for: IPAddress("198.51.100.2")!, in: "ring")
        XCTAssertEqual(exact?.localKey?.bytes, Array("exact key with spaces".utf8))
        XCTAssertEqual(exact?.identity, IPAddress("198.51.100.22"))
    }

    func testKeyringPeerWithoutKeyRejected() {
        let result = parse(
            "crypto ikev2 keyring ring",
            " peer half",
            "  address 198.51.100.2",
            "  pre-shared-key local only-mine",
            " peer nowhere",
            "  pre-shared-key k",
            " peer encrypted",
            "  address 198.51.100.3",
            "  pre-shared-key 6 AbCdEf")
        XCTAssertEqual(result.lines(.error), [2, 5, 7, 9], listing(result))
        XCTAssertEqual(result.config.keyrings["ring"]?.peers, [])
        XCTAssertEqual(result.errorText(3), "pre-shared-key <removed>")
    }

    func testProfileSettings() throws {
        let result = parse(
            "crypto ikev2 keyring ring",
            "crypto ikev2 profile prof",
            " match identity remote address 198.51.100.0 255.255.255.0",
            " match identity remote address 2001:db8::/32",
            " match identity remote fqdn gw2.example",
            " match fvrf any",
            " identity local address 198.51.100.1",
            " authentication local pre-share",
            " authentication remote pre-share",
            " keyring ring",
            " lifetime 3600",
            " dpd 10 2 on-demand",
            " aaa authorization group psk list default default")
        XCTAssertEqual(result.lines(.ignored), [5, 6, 13], listing(result))
        XCTAssertEqual(result.lines(.error), [])
        let profile = try XCTUnwrap(result.config.ikev2Profiles["prof"])
        XCTAssertEqual(
            profile.matchRemoteAddresses,
            [
                IPPrefix("198.51.100.0/24")!, IPPrefix("2001:db8::/32")!,
            ])
        XCTAssertEqual(profile.localIdentity, IPAddress("198.51.100.1"))
        XCTAssertEqual(profile.lifetimeSeconds, 3600)
        XCTAssertEqual(profile.dpd, DPDSettings(interval: 10, retry: 2, mode: .onDemand))
        XCTAssertEqual(profile.keyringName, "ring")
    }

    func testMostSpecificProfileWins() {
        let result = parse(
            "crypto ikev2 keyring ring",
            "crypto ikev2 profile any",
            " match identity remote address 0.0.0.0",
            " authentication local pre-share",
            " authentication remote pre-share",
            " keyring local ring",
            "crypto ikev2 profile lab",
            " match identity remote address 198.51.100.2 255.255.255.255",
            " authentication local pre-share",
            " authentication remote pre-share",
            " keyring local ring")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let config = result.config
        XCTAssertEqual(config.profile(matchingRemote: IPAddress("198.51.100.2")!)?.name, "lab")
        XCTAssertEqual(config.profile(matchingRemote: IPAddress("198.51.100.3")!)?.name, "any")
        XCTAssertNil(config.profile(matchingRemote: IPAddress("2001:db8::2")!))
    }

    func testIncompleteProfileRejected() {
        let result = parse(
            "crypto ikev2 profile nokeyring",
            " match identity remote address 198.51.100.2",
            " authentication local pre-share",
            " authentication remote pre-share",
            " authentication remote rsa-sig",
            "crypto ikev2 profile nomatch",
            " authentication local pre-share",
            "crypto map cmap 10 ipsec-isakmp",
            " set ikev2-profile nomatch")
        XCTAssertEqual(result.lines(.error), [1, 5, 6, 8, 9], listing(result))
        XCTAssertEqual(
            result.errorMessage(0),
            "ikev2 profile nokeyring is incomplete: no keyring for pre-share authentication")
        XCTAssertEqual(result.errorMessage(4), "ikev2 profile nomatch was rejected at line 6")
        XCTAssertTrue(result.config.ikev2Profiles.isEmpty)
    }
}
