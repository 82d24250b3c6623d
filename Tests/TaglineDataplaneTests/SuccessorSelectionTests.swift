// Which SA carries outbound traffic while a rekeyed SA and its successor are
// both installed: the rekey initiator's successor at once, the rekey
// responder's successor only after a valid packet arrived on it.

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class SuccessorSelectionTests: XCTestCase {
    /// gw1's SA of the lab pair with its SPIs replaced, leased and installed at `installedAt`.
    private func state(
        inbound: UInt32, installedAt: Double, awaitsInbound: Bool? = nil, leased: Bool = true
    ) throws -> SAState {
        var sa = Lab.saPair().gw1
        sa.inboundSPI = inbound
        sa.outboundSPI = inbound + 0x1000
        sa.installedAt = installedAt
        sa.awaitsInboundTraffic = awaitsInbound
        let state = try SAState(childSA: sa, workerCount: 1)
        if leased { state.sequence.grant(SequenceLease(first: 1, count: 100)) }
        return state
    }

    private func chosen(_ table: SATable) -> UInt32? {
        table.outboundSA(
            source: IPAddress("192.0.2.2")!, destination: IPAddress("203.0.113.2")!,
            ipProtocol: 17, ports: (source: 1000, destination: 2000))?.childSA.inboundSPI
    }

    func testInitiatorSuccessorCarriesAtOnce() throws {
        let old = try state(inbound: 0x100, installedAt: 10)
        let new = try state(inbound: 0x200, installedAt: 20)
        XCTAssertEqual(chosen(SATable(states: [old, new])), 0x200)
    }

    func testResponderSuccessorWaitsForInbound() throws {
        let old = try state(inbound: 0x100, installedAt: 10)
        let new = try state(inbound: 0x200, installedAt: 20, awaitsInbound: true)
        let table = SATable(states: [old, new])
        XCTAssertEqual(chosen(table), 0x100)
        // One packet that passed the ICV check on the new SA.
        new.counters.add(.decrypt)
        XCTAssertEqual(chosen(table), 0x200)
    }

    func testResponderSuccessorAloneCarries() throws {
        // Once the old SA is deleted, nothing is left to wait for.
        let new = try state(inbound: 0x200, installedAt: 20, awaitsInbound: true)
        XCTAssertEqual(chosen(SATable(states: [new])), 0x200)
    }

    func testUnleasedSuccessorYields() throws {
        let old = try state(inbound: 0x100, installedAt: 10)
        let new = try state(inbound: 0x200, installedAt: 20, leased: false)
        XCTAssertEqual(chosen(SATable(states: [old, new])), 0x100)
    }

    func testAwaitingSAWithoutOlderCarries() throws {
        // Another pair with other selectors is no older SA of this one.
        var other = Lab.saPair().gw1
        other.inboundSPI = 0x300
        other.localSelectors = [TrafficSelector(prefix: IPPrefix("198.51.100.0/24")!)]
        let unrelated = try SAState(childSA: other, workerCount: 1)
        let new = try state(inbound: 0x200, installedAt: 20, awaitsInbound: true)
        XCTAssertEqual(chosen(SATable(states: [unrelated, new])), 0x200)
    }
}
