import TaglineCore
import XCTest

@testable import TaglineDataplane

/// The egress and ingress rules: when the CMD is inserted, extracted or skipped, and
/// which counter each case increments.
final class TaggingRulesTests: XCTestCase {
    static let bindingHostA = SGTBinding(
        prefix: IPPrefix("192.0.2.2/32")!, sgt: SGT(333)!,
        source: .config)

    /// Next Header and decrypted payload start of the ESP packet gw1 sends.
    private func egress(tagging: Bool, bindings: [SGTBinding]) throws
        -> (payload: [UInt8], counters: SACounters, events: [SGTDebugEvent])
    {
        let pair = Lab.saPair(encryption: .null, integrity: .hmacSHA1_96, tagging: tagging)
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1, bindings: bindings)
        let wire = MemorySink()
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .forwarded(frames: 1))
        let frame = try XCTUnwrap(wire.frames.first)
        // NULL encryption: Ethernet 14, IPv4 20, ESP header 8, then the clear payload.
        let body = Array(frame[42..<(frame.count - 12)])
        var events: [SGTDebugEvent] = []
        while let event = gw1.context.debugQueues[0].pop() { events.append(event) }
        return (body, state.counters.snapshot(), events)
    }

    func testEgressTable() throws {
        let rows: [(tagging: Bool, bindings: [SGTBinding], tagged: Bool, note: String)] = [
            (true, [TaggingRulesTests.bindingHostA], true, "negotiated and bound: CMD inserted"),
            (true, [], false, "negotiated, no binding: untagged"),
            (false, [TaggingRulesTests.bindingHostA], false, "not negotiated: untagged anyway"),
            (false, [], false, "neither"),
        ]
        for row in rows {
            let (body, counters, events) = try egress(tagging: row.tagging, bindings: row.bindings)
            let nextHeader = body.last
            if row.tagged {
                // version 1, length 1, SGT option, SGT 333, IPv4
                XCTAssertEqual(
                    Array(body[0..<8]), [0x01, 0x01, 0x00, 0x01, 0x01, 0x4D, 0x08, 0x00],
                    row.note)
                XCTAssertEqual(
                    Array(body[8..<(8 + 20)]), Array(Lab.forwarded(Lab.ipv4UDP(), hops: 1)[0..<20]),
                    row.note)
                XCTAssertEqual(nextHeader, 253, row.note)
                XCTAssertEqual(counters.tagged, 1, row.note)
                XCTAssertEqual(counters.notTagged, 0, row.note)
                XCTAssertEqual(
                    events.map(\.line),
                    ["IPsec SGT:: inserted SGT = 333 for src ip 192.0.2.2"], row.note)
            } else {
                XCTAssertEqual(
                    Array(body[0..<20]), Array(Lab.forwarded(Lab.ipv4UDP(), hops: 1)[0..<20]),
                    row.note)
                XCTAssertEqual(nextHeader, 4, row.note)
                XCTAssertEqual(counters.tagged, 0, row.note)
                XCTAssertEqual(counters.notTagged, 1, row.note)
                XCTAssertTrue(events.isEmpty, row.note)
            }
        }
    }

    func testEgressUsesLongestPrefix() throws {
        let bindings = [
            SGTBinding(prefix: IPPrefix("192.0.2.0/24")!, sgt: SGT(10)!, source: .sxp),
            SGTBinding(prefix: IPPrefix("192.0.2.0/30")!, sgt: SGT(20)!, source: .config),
        ]
        let (body, _, _) = try egress(tagging: true, bindings: bindings)
        XCTAssertEqual(Array(body[4..<6]), [0x00, 20])
    }

    func testIngressTable() throws {
        let inner = Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA)
        let cmd: [UInt8] = [0x01, 0x01, 0x00, 0x01, 0x01, 0x90, 0x08, 0x00]  // SGT 400
        let rows:
            [(
                tagging: Bool, tagged: Bool, untagged: UInt64, notUntagged: UInt64,
                sgt: UInt16?, note: String
            )] = [
                (true, true, 1, 0, 400, "tagged on a negotiated SA: extracted"),
                (false, true, 0, 1, nil, "tagged on a plain SA: skipped"),
                (true, false, 0, 1, nil, "untagged on a negotiated SA: normal ESP"),
                (false, false, 0, 1, nil, "untagged on a plain SA: normal ESP"),
            ]
        for row in rows {
            let pair = Lab.saPair(tagging: row.tagging)
            let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1)
            let builder = try ESPFrameBuilder(sa: pair.gw2)
            let frame =
                row.tagged
                ? builder.frame(payload: cmd + inner, nextHeader: 253, sequence: 7)
                : builder.frame(payload: inner, nextHeader: 4, sequence: 7)
            let sink = MemorySink()
            XCTAssertEqual(gw1.outside(frame, sink: sink), .forwarded(frames: 1), row.note)
            XCTAssertEqual(
                sink.frames.first.map { Array($0[14...]) }, Lab.forwarded(inner, hops: 1),
                row.note)
            let counters = state.counters.snapshot()
            XCTAssertEqual(counters.untagged, row.untagged, row.note)
            XCTAssertEqual(counters.notUntagged, row.notUntagged, row.note)
            XCTAssertEqual(gw1.context.debugQueues[0].pop()?.sgt, row.sgt, row.note)
        }
    }

    func testNoDebugEventsWhileDebugOff() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(
            gw1: true, sa: pair.gw1,
            bindings: [TaggingRulesTests.bindingHostA])
        gw1.context.debugEnabled = false
        _ = gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: MemorySink())
        XCTAssertNil(gw1.context.debugQueues[0].pop())
    }

    func testConfiguredNextHeaderUsed() throws {
        let pair = Lab.saPair(encryption: .null, integrity: .hmacSHA1_96)
        let context = DataplaneContext(
            workerCount: 1, forwarding: Lab.forwarding(gw1: true),
            cmdNextHeader: 254)
        let state = try SAState(childSA: pair.gw1, workerCount: 1)
        state.sequence.grant(SequenceLease(first: 1, count: 10))
        context.saTable.publish(SATable(states: [state]))
        context.bindingTable.publish(BindingTable(bindings: [TaggingRulesTests.bindingHostA]))
        let wire = MemorySink()
        _ = Pipeline(worker: 0, context: context).inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire)
        let frame = try XCTUnwrap(wire.frames.first)
        XCTAssertEqual(frame[frame.count - 12 - 1], 254)
    }
}
