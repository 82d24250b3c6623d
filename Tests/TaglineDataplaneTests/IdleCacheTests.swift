import TaglineCore
import XCTest

@testable import TaglineDataplane

/// A worker's outbound SA cache keeps the SA of its last flow. Once the SA is deleted and the
/// worker goes idle, nothing may keep that SA, and with it its keys, alive.
final class IdleCacheTests: XCTestCase {
    func testForgetReleasesDeletedSA() throws {
        let pair = Lab.saPair()
        var gateway: (Pipeline, SAState)? = try Lab.gateway(gw1: true, sa: pair.gw1)
        let gw1 = try XCTUnwrap(gateway).0
        weak var deleted = gateway?.1
        gateway = nil
        let verdict = gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: MemorySink())
        XCTAssertEqual(verdict, .forwarded(frames: 1))

        // Delete the SA: an empty table replaces the one the cache refers to.
        gw1.context.saTable.publish(SATable(states: []))
        _ = gw1.context.epochs.reclaim()
        XCTAssertNotNil(deleted, "the cache still holds the deleted SA")

        gw1.forgetOutboundSA()
        _ = gw1.context.epochs.reclaim()
        XCTAssertNil(deleted, "the deleted SA was freed")
    }
}
