import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Rows M1-M8: gw2 sends to gw1 an ESP packet whose decrypted payload starts with the
/// given CMD bytes, followed by a valid IPv4 packet, with Next Header 253.
final class CMDInESPTests: XCTestCase {
    /// version 1, length 1, option length 0 + type 1 (SGT), SGT 400 (0x0190), IPv4
    static let m1: [UInt8] = [0x01, 0x01, 0x00, 0x01, 0x01, 0x90, 0x08, 0x00]
    static let inner = Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA)

    private struct Outcome {
        var verdict: PacketVerdict
        var delivered: [[UInt8]]
        var counters: SACounters
        var drops: [String: UInt64]
        var debugEvents: [SGTDebugEvent]
    }

    private func receive(
        _ payload: [UInt8], tagging: Bool = true, udp: Bool = false,
        outerIPv6: Bool = false, hopByHop: Bool = false
    ) throws -> Outcome {
        let pair = Lab.saPair(tagging: tagging, udp: udp, outerIPv6: outerIPv6)
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        let frame = builder.frame(
            payload: payload, nextHeader: 253, sequence: 1, hopByHop: hopByHop)
        let sink = MemorySink()
        let verdict = gw1.outside(frame, sink: sink)
        var events: [SGTDebugEvent] = []
        while let event = gw1.context.debugQueues[0].pop() { events.append(event) }
        return Outcome(
            verdict: verdict, delivered: sink.frames, counters: state.counters.snapshot(),
            drops: gw1.context.dropTotals(), debugEvents: events)
    }

    private var innerFrame: [UInt8] {
        Lab.ethernet(
            destination: Lab.hostAMAC, source: Lab.gw1InsideMAC, type: 0x0800,
            Lab.forwarded(CMDInESPTests.inner, hops: 1))
    }

    func testM1ExtractsSGT400() throws {
        let outcome = try receive(CMDInESPTests.m1 + CMDInESPTests.inner)
        XCTAssertEqual(outcome.verdict, .forwarded(frames: 1))
        XCTAssertEqual(outcome.delivered, [innerFrame])
        XCTAssertEqual(outcome.counters.untagged, 1)
        XCTAssertEqual(outcome.counters.notUntagged, 0)
        XCTAssertEqual(
            outcome.debugEvents,
            [SGTDebugEvent(kind: .extracted, sgt: 400, source: Lab.hostB)])
        XCTAssertEqual(
            outcome.debugEvents.first?.line,
            "IPsec SGT:: extracted SGT = 400 for src ip 203.0.113.2")
    }

    func testM2Version2Dropped() throws {
        // version 2, length 1, SGT option, SGT 400, IPv4
        let outcome = try receive(
            [0x02, 0x01, 0x00, 0x01, 0x01, 0x90, 0x08, 0x00]
                + CMDInESPTests.inner)
        XCTAssertEqual(outcome.verdict, .dropped(.cmdInvalidVersion))
        XCTAssertTrue(outcome.delivered.isEmpty)
        XCTAssertEqual(outcome.drops, ["cmdInvalidVersion": 1])
        XCTAssertEqual(outcome.counters.untagged, 0)
    }

    func testM3ReservedSGTDropped() throws {
        // version 1, length 1, SGT option, SGT 0xFFFF, IPv4
        let outcome = try receive(
            [0x01, 0x01, 0x00, 0x01, 0xFF, 0xFF, 0x08, 0x00]
                + CMDInESPTests.inner)
        XCTAssertEqual(outcome.verdict, .dropped(.cmdReservedSGT))
        XCTAssertTrue(outcome.delivered.isEmpty)
        XCTAssertEqual(outcome.drops, ["cmdReservedSGT": 1])
    }

    func testM4OptionLengthBitsDropped() throws {
        // version 1, length 1, option length 1 (0x20) + type 1, SGT 400, IPv4: the option
        // would need a second 8-byte unit that the header length does not include.
        let outcome = try receive(
            [0x01, 0x01, 0x20, 0x01, 0x01, 0x90, 0x08, 0x00]
                + CMDInESPTests.inner)
        XCTAssertEqual(outcome.verdict, .dropped(.cmdInvalidOption))
        XCTAssertTrue(outcome.delivered.isEmpty)
        XCTAssertEqual(outcome.drops, ["cmdInvalidOption": 1])
    }

    func testM4OptionLengthHonouredWhenItFits() throws {
        // version 1, length 2, option length 1 + type 1, SGT 400, IPv4, 8 bytes of option data
        let header: [UInt8] =
            [0x01, 0x02, 0x20, 0x01, 0x01, 0x90, 0x08, 0x00]
            + [UInt8](repeating: 0, count: 8)
        let outcome = try receive(header + CMDInESPTests.inner)
        XCTAssertEqual(outcome.verdict, .forwarded(frames: 1))
        XCTAssertEqual(outcome.delivered, [innerFrame])
        XCTAssertEqual(outcome.counters.untagged, 1)
    }

    func testM5TruncatedDropped() throws {
        // version 1, length 1, SGT option, then the payload ends
        let outcome = try receive([0x01, 0x01, 0x00, 0x01])
        XCTAssertEqual(outcome.verdict, .dropped(.cmdTruncated))
        XCTAssertTrue(outcome.delivered.isEmpty)
        XCTAssertEqual(outcome.drops, ["cmdTruncated": 1])
    }

    func testM6SkippedWithoutNegotiation() throws {
        let outcome = try receive(CMDInESPTests.m1 + CMDInESPTests.inner, tagging: false)
        XCTAssertEqual(outcome.verdict, .forwarded(frames: 1))
        XCTAssertEqual(outcome.delivered, [innerFrame])
        XCTAssertEqual(outcome.counters.untagged, 0)
        XCTAssertEqual(outcome.counters.notUntagged, 1)
        XCTAssertTrue(outcome.debugEvents.isEmpty)
    }

    func testM6SkipsEvenAnInvalidCMD() throws {
        // version 2 and SGT 0xFFFF would be rejected if the CMD were processed.
        let outcome = try receive(
            [0x02, 0x01, 0x00, 0x01, 0xFF, 0xFF, 0x08, 0x00]
                + CMDInESPTests.inner, tagging: false)
        XCTAssertEqual(outcome.verdict, .forwarded(frames: 1))
        XCTAssertEqual(outcome.counters.notUntagged, 1)
    }

    func testM7FoundAfterESPInUDP() throws {
        let outcome = try receive(CMDInESPTests.m1 + CMDInESPTests.inner, udp: true)
        XCTAssertEqual(outcome.verdict, .forwarded(frames: 1))
        XCTAssertEqual(outcome.delivered, [innerFrame])
        XCTAssertEqual(outcome.counters.untagged, 1)
        XCTAssertEqual(outcome.debugEvents.map(\.sgt), [400])
    }

    func testM7IKEOnPort4500Passed() throws {
        let pair = Lab.saPair(udp: true)
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        // Non-ESP marker (four zero bytes) then an IKE header's first bytes.
        let ike: [UInt8] = [0, 0, 0, 0] + [UInt8](repeating: 0x11, count: 28)
        XCTAssertEqual(gw1.outside(builder.wrap(ike), sink: MemorySink()), .passed)
        XCTAssertEqual(gw1.context.dropTotals(), [:])
    }

    func testM8IPv6Outer() throws {
        let outcome = try receive(CMDInESPTests.m1 + CMDInESPTests.inner, outerIPv6: true)
        XCTAssertEqual(outcome.verdict, .forwarded(frames: 1))
        XCTAssertEqual(outcome.delivered, [innerFrame])
        XCTAssertEqual(outcome.counters.untagged, 1)
    }

    func testM8IPv6OuterAfterHopByHop() throws {
        for udp in [false, true] {
            let outcome = try receive(
                CMDInESPTests.m1 + CMDInESPTests.inner, udp: udp,
                outerIPv6: true, hopByHop: true)
            XCTAssertEqual(outcome.verdict, .forwarded(frames: 1), "udp=\(udp)")
            XCTAssertEqual(outcome.delivered, [innerFrame], "udp=\(udp)")
            XCTAssertEqual(outcome.counters.untagged, 1, "udp=\(udp)")
        }
    }
}
