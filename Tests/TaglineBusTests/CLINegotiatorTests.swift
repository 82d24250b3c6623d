// `tagline show crypto ikev2 stats` and `tagline clear` against a fake
// ike-negotiator: the stats layout and JSON, the error reply for an
// unknown tunnel id reaching the operator with exit status 1, and
// `clear crypto sa [peer ADDRESS]` with and without the negotiator.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class CLINegotiatorTests: XCTestCase {
    var services: FakeServices!
    /// Inbound SPIs that the fake sa-manager was asked to delete.
    var deletedSPIs: [UInt32] = []
    /// The peers of the Child SA clear requests the fake negotiator received ("all" for nil).
    var clearedPeers: [String] = []

    override func setUp() {
        services = FakeServices()
        deletedSPIs = []
        clearedPeers = []
    }

    override func tearDown() {
        services.stop()
    }

    /// Registers a negotiator with one IKE SA (tunnel id 1), and an sa-manager
    /// with one Child SA.
    private func startServices(negotiator: Bool = true, clearAllFails: Bool = false) throws {
        if negotiator {
            let bus = try services.bus(.ikeNegotiator)
            bus.handle(MessageType.ikeStats) { (_: EmptyRequest, _) in
                IKEStatsReply(
                    establishedSAs: 2, halfOpenSAs: 1,
                    drops: ["malformed": 12, "unknown SPI": 0, "integrity check failed": 5],
                    startedAt: wallClockSeconds() - 3720)
            }
            bus.handle(MessageType.ikeClear) { (request: ClearRequest, _) in
                if let id = request.tunnelID, id != 1 {
                    throw ErrorReply(message: "no IKE SA with tunnel id \(id)")
                }
                return EmptyReply()
            }
            bus.handle(MessageType.childClear) {
                [unowned self] (request: ChildSAClearRequest, _) in
                if clearAllFails {
                    throw ErrorReply(message: "deleting Child SAs failed")
                }
                clearedPeers.append(request.peer.map { "\($0)" } ?? "all")
                return ChildSAClearReply(cleared: request.peer == nil ? 2 : 1)
            }
        }
        let manager = try services.bus(.saManager)
        manager.handle(MessageType.childList) { (_: EmptyRequest, _) in
            ChildSAListReply(childSAs: [
                ChildSAStatus(childSA: makeChildSA(inboundSPI: 4096), counters: SACounters())
            ])
        }
        manager.handle(MessageType.childDelete) {
            [unowned self] (request: ChildSADeleteRequest, _) in
            deletedSPIs.append(request.inboundSPI)
            return EmptyReply()
        }
        services.start()
    }

    func testShowIKEv2Stats() throws {
        try startServices()
        let result = try services.tagline(["show", "crypto", "ikev2", "stats"])
        XCTAssertEqual(result.status, 0, result.standardError)
        let rule = String(repeating: "-", count: 80)
        let expected = [
            rule,
            String(repeating: " ", count: 27) + "Crypto IKEv2 SA Statistics",
            rule,
            "Total IKEv2 SA Count:    3        active:        2        half-open: 1",
            "IKEv2 packets dropped:   17",
            "  integrity check failed  5",
            "  malformed               12",
            "  unknown SPI             0",
        ]
        let lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 10, result.standardOutput)
        XCTAssertEqual(lines.prefix(8).map(String.init), expected)
        // The negotiator started 3720 s before the request, so 1h02m00s plus
        // the seconds the CLI took to start.
        XCTAssertTrue(
            lines.count > 8
                && lines[8].hasPrefix("Drops counted since ike-negotiator started, 1h02m0")
                && lines[8].hasSuffix("s ago"),
            result.standardOutput)
    }

    func testShowIKEv2StatsJSON() throws {
        try startServices()
        let result = try services.tagline(["sh", "cry", "ikev2", "stat", "--json"])
        XCTAssertEqual(result.status, 0, result.standardError)
        let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))
        let reply = try XCTUnwrap(object as? [String: Any])
        XCTAssertEqual(reply["establishedSAs"] as? Int, 2)
        XCTAssertEqual(reply["halfOpenSAs"] as? Int, 1)
        let drops = try XCTUnwrap(reply["drops"] as? [String: Any])
        XCTAssertEqual(drops["malformed"] as? Int, 12)
        XCTAssertEqual(drops["unknown SPI"] as? Int, 0)
    }

    func testClearUnknownTunnelFails() throws {
        try startServices()
        let unknown = try services.tagline(["clear", "crypto", "ikev2", "sa", "99999"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertEqual(
            unknown.standardError, "tagline: ike-negotiator: no IKE SA with tunnel id 99999\n")
        XCTAssertEqual(unknown.standardOutput, "")

        let known = try services.tagline(["clear", "crypto", "ikev2", "sa", "1"])
        XCTAssertEqual(known.status, 0, known.standardError)
        XCTAssertEqual(known.standardOutput, "cleared IKEv2 SA 1\n")
    }

    func testClearChildSAsKeepsIKE() throws {
        try startServices()
        let all = try services.tagline(["clear", "crypto", "sa"])
        XCTAssertEqual(all.status, 0, all.standardError)
        XCTAssertEqual(all.standardOutput, "cleared 2 Child SAs\n")
        let one = try services.tagline(["clear", "crypto", "sa", "peer", "198.51.100.2"])
        XCTAssertEqual(one.status, 0, one.standardError)
        XCTAssertEqual(one.standardOutput, "cleared 1 Child SA of peer 198.51.100.2\n")
        let invalid = try services.tagline(["clear", "crypto", "sa", "peer", "198.51.100"])
        XCTAssertNotEqual(invalid.status, 0)
        services.stop()
        XCTAssertEqual(clearedPeers, ["all", "198.51.100.2"])
        XCTAssertEqual(deletedSPIs, [])
    }

    func testClearPeerWithoutNegotiator() throws {
        try startServices(negotiator: false)
        let other = try services.tagline(
            ["clear", "crypto", "sa", "peer", "198.51.100.9", "--timeout", "0.3"])
        XCTAssertEqual(other.status, 0, other.standardError)
        XCTAssertTrue(other.standardOutput.hasSuffix("cleared 0 Child SAs\n"), other.standardOutput)
        let peer = try services.tagline(
            ["clear", "crypto", "sa", "peer", "198.51.100.2", "--timeout", "0.3"])
        XCTAssertEqual(peer.status, 0, peer.standardError)
        XCTAssertTrue(peer.standardOutput.hasSuffix("cleared 1 Child SA\n"), peer.standardOutput)
        services.stop()
        XCTAssertEqual(deletedSPIs, [4096])
    }

    func testClearAllErrorKeepsChildSAs() throws {
        try startServices(clearAllFails: true)
        let result = try services.tagline(["clear", "crypto", "sa"])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.standardError, "tagline: ike-negotiator: deleting Child SAs failed\n")
        XCTAssertFalse(result.standardOutput.contains("removing Child SAs"), result.standardOutput)
        services.stop()
        XCTAssertEqual(deletedSPIs, [])
    }

    func testClearAllWithoutNegotiator() throws {
        try startServices(negotiator: false)
        let result = try services.tagline(["clear", "crypto", "sa", "--timeout", "0.3"])
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(
            result.standardOutput.contains("removing Child SAs from sa-manager directly"),
            result.standardOutput)
        XCTAssertTrue(
            result.standardOutput.hasSuffix("cleared 1 Child SA\n"), result.standardOutput)
        services.stop()
        XCTAssertEqual(deletedSPIs, [4096])
    }
}
