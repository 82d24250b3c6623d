// The per-worker outbound SA cache returns what SATable.outboundSA returns.
// It keeps a flow only while one SA matches it, and misses on a new table.

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class OutboundSACacheTests: XCTestCase {
    private func state(inbound: UInt32, installedAt: Double, leased: Bool = true) throws
        -> SAState
    {
        var sa = Lab.saPair().gw1
        sa.inboundSPI = inbound
        sa.outboundSPI = inbound + 0x1000
        sa.installedAt = installedAt
        let state = try SAState(childSA: sa, workerCount: 1)
        if leased { state.sequence.grant(SequenceLease(first: 1, count: 100)) }
        return state
    }

    private func info(destination: String = "203.0.113.2") -> IPPacketInfo {
        IPPacketInfo(
            isIPv4: true, source: IPAddress("192.0.2.2")!,
            destination: IPAddress(destination)!, ipProtocol: 17,
            ports: (source: 1000, destination: 2000), length: 64, headerLength: 20,
            isFragment: false, dontFragment: false)
    }

    private func pipeline() -> Pipeline {
        Pipeline(
            worker: 0,
            context: DataplaneContext(workerCount: 1, forwarding: Lab.forwarding(gw1: true)))
    }

    func testSingleMatchCached() throws {
        let only = try state(inbound: 0x100, installedAt: 10)
        let table = SATable(states: [only])
        let pipeline = pipeline()
        XCTAssertTrue(pipeline.outboundSA(table, for: info()) === only)
        XCTAssertTrue(pipeline.outboundSACache.table === table)
        XCTAssertTrue(pipeline.outboundSA(table, for: info()) === only)
    }

    func testSuccessorLeaseSeen() throws {
        // The old SA carries until the successor has a lease, then the successor does.
        let old = try state(inbound: 0x100, installedAt: 10)
        let new = try state(inbound: 0x200, installedAt: 20, leased: false)
        let table = SATable(states: [old, new])
        let pipeline = pipeline()
        XCTAssertTrue(pipeline.outboundSA(table, for: info()) === old)
        XCTAssertNil(pipeline.outboundSACache.table)
        new.sequence.grant(SequenceLease(first: 1, count: 100))
        XCTAssertTrue(pipeline.outboundSA(table, for: info()) === new)
    }

    func testNewTableMisses() throws {
        let first = try state(inbound: 0x100, installedAt: 10)
        let second = try state(inbound: 0x200, installedAt: 20)
        let pipeline = pipeline()
        XCTAssertTrue(pipeline.outboundSA(SATable(states: [first]), for: info()) === first)
        XCTAssertTrue(pipeline.outboundSA(SATable(states: [second]), for: info()) === second)
    }

    func testOtherFlowMisses() throws {
        let only = try state(inbound: 0x100, installedAt: 10)
        let table = SATable(states: [only])
        let pipeline = pipeline()
        XCTAssertTrue(pipeline.outboundSA(table, for: info()) === only)
        // A destination outside the SA's remote selectors.
        XCTAssertNil(pipeline.outboundSA(table, for: info(destination: "198.51.100.9")))
    }
}
