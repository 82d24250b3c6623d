// UDP GSO frames with odd segment sizes. A host on the inside link can write
// any such frame with a packet socket and PACKET_VNET_HDR. The cases: a
// segment size of one byte, one larger than the tunnel, one larger than the
// frame itself.

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class GSOHostileTests: XCTestCase {
    private struct Result {
        var verdict: PacketVerdict
        var wire: [[UInt8]]
        var replies: [[UInt8]]
        var sequenceUsed: UInt64
        var nanoseconds: UInt64
        var drops: [String: UInt64]
    }

    private func send(
        _ packet: [UInt8], gsoSize: Int, afterEncryption: Bool = false,
        capacity: Int = 256
    ) throws
        -> Result
    {
        let pair = Lab.saPair()
        let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
        gw1State.sequence.grant(SequenceLease(first: 1, count: 1 << 30))
        gw1.context.fragmentation.afterEncryption = afterEncryption
        let offload = OffloadHeader(
            needsChecksum: true, checksumStart: 14 + (packet[0] >> 4 == 4 ? 20 : 40),
            checksumOffset: 6, gsoType: OffloadHeader.gsoUDPL4, gsoSize: gsoSize)
        let wire = MemorySink(capacity: capacity)
        let replies = MemorySink()
        let started = monotonicNanoseconds()
        let verdict = gw1.inside(
            Lab.fromHostA(packet), offload: offload, sink: wire, replies: replies)
        let elapsed = monotonicNanoseconds() - started
        return Result(
            verdict: verdict, wire: wire.frames, replies: replies.frames,
            sequenceUsed: gw1State.sequence.next().map { $0 - 1 } ?? 0, nanoseconds: elapsed,
            drops: gw1.context.dropTotals())
    }

    /// Checks a segment size of one byte on a 60000-byte frame.
    func testSegmentSizeOne() throws {
        let packet = Lab.withoutDF(Lab.ipv4UDP(payload: [UInt8](repeating: 7, count: 60000)))
        let result = try send(packet, gsoSize: 1)
        print("segment size 1: \(result.nanoseconds / 1000) us for one frame")
        XCTAssertEqual(result.verdict, .forwarded(frames: 256))
        XCTAssertEqual(result.wire.count, 256, "the sink's capacity")
        XCTAssertEqual(result.sequenceUsed, 256, "no sequence number without a frame")
        XCTAssertEqual(result.drops["txRingFull"], 1, "the split stops at the full ring")
    }

    /// Checks the same frame with DF clear and datagrams larger than the tunnel: fragmented
    /// until the ring is full, then stopped.
    func testFragmentsStopAtFullRing() throws {
        let packet = Lab.withoutDF(Lab.ipv4UDP(payload: [UInt8](repeating: 7, count: 60000)))
        let result = try send(packet, gsoSize: 2000, capacity: 16)
        XCTAssertEqual(result.verdict, .forwarded(frames: 16))
        XCTAssertEqual(result.sequenceUsed, 16)
        XCTAssertEqual(result.drops["txRingFull"], 1)
    }

    /// Checks the after-encryption fragmentation of the same frame: a full ring is counted
    /// as such, not as too big.
    func testOuterFragmentsStopAtFullRing() throws {
        let packet = Lab.withoutDF(Lab.ipv4UDP(payload: [UInt8](repeating: 7, count: 60000)))
        let result = try send(packet, gsoSize: 2000, afterEncryption: true, capacity: 16)
        XCTAssertEqual(result.verdict, .forwarded(frames: 16))
        XCTAssertEqual(result.sequenceUsed, 9, "8 datagrams of two fragments, then one sealed")
        XCTAssertNil(result.drops["tooBig"])
        XCTAssertEqual(result.drops["txRingFull"], 1)
    }

    /// Checks a segment size larger than the frame's payload: one datagram, fragmented.
    func testSegmentSizeOverFrame() throws {
        let packet = Lab.withoutDF(Lab.ipv4UDP(payload: [UInt8](repeating: 7, count: 3000)))
        let result = try send(packet, gsoSize: 65535)
        XCTAssertEqual(result.verdict, .forwarded(frames: 3))
    }

    /// Checks an IPv6 frame whose segment size exceeds the tunnel: dropped, one error.
    func testIPv6OverTunnel() throws {
        let packet = Lab.ipv6UDP(payload: [UInt8](repeating: 7, count: 6000))
        let result = try send(packet, gsoSize: 2000)
        XCTAssertEqual(result.verdict, .dropped(.tooBig))
        XCTAssertEqual(result.replies.count, 1)
        XCTAssertTrue(result.wire.isEmpty)
    }
}
