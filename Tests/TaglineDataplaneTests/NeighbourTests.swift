import TaglineCore
import XCTest

@testable import TaglineDataplane

final class NeighbourTests: XCTestCase {
    func testUnknownNeighbourSendsARPRequest() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let wire = MemorySink()
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .queued)
        XCTAssertEqual(gw1.context.dropTotals(), [:])
        let request = try XCTUnwrap(wire.frames.first)
        XCTAssertEqual(request.count, 60)
        XCTAssertEqual(Array(request[0..<6]), MACAddress.broadcast.bytes)
        XCTAssertEqual(Array(request[6..<12]), Lab.gw1OutsideMAC.bytes)
        XCTAssertEqual(Array(request[12..<14]), [0x08, 0x06])  // ARP
        XCTAssertEqual(Array(request[14..<22]), [0, 1, 8, 0, 6, 4, 0, 1])  // Ethernet/IPv4, request
        XCTAssertEqual(Array(request[28..<32]), Lab.gw1Outside.bytes)  // sender address
        XCTAssertEqual(Array(request[38..<42]), Lab.gw2Outside.bytes)  // target address

        // Two more packets are held without a second request. The fourth finds the hop's
        // share of the queue full.
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .queued)
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .queued)
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire),
            .dropped(.unresolvedQueueFull))
        XCTAssertEqual(gw1.context.drops[0].value(.unresolvedQueueFull), 1)
        XCTAssertEqual(gw1.unresolved.frameCount, 3)
        XCTAssertEqual(wire.frames.count, 1)
    }

    func testUnknownIPv6NeighbourSendsSolicitation() throws {
        let pair = Lab.saPair(outerIPv6: true)
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let wire = MemorySink()
        _ = gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire)
        let solicitation = try XCTUnwrap(wire.frames.first)
        XCTAssertEqual(Array(solicitation[0..<6]), [0x33, 0x33, 0xFF, 0x00, 0x00, 0x02])
        XCTAssertEqual(solicitation[20], 58)  // ICMPv6
        XCTAssertEqual(solicitation[21], 255)  // hop limit
        XCTAssertEqual(solicitation[54], 135)  // Neighbour Solicitation
        XCTAssertEqual(Array(solicitation[62..<78]), Lab.gw2Outside6.bytes)  // target
        // The checksum over the pseudo-header and the message verifies to zero.
        let valid = Array(solicitation[14...]).withUnsafeBytes { packet in
            let pseudo = InternetChecksum.pseudoHeaderSum(
                source: Lab.gw1Outside6, destination: IPAddress("ff02::1:ff00:2")!,
                ipProtocol: 58, length: 32)
            return InternetChecksum.finish(
                InternetChecksum.sum(packet.slice(40, 32), initial: pseudo))
        }
        XCTAssertEqual(valid, 0)
    }

    func testLearnsFromARPReply() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        // ARP reply from gw2 (198.51.100.2 is at gw2's MAC) to gw1.
        let arp: [UInt8] =
            [0, 1, 8, 0, 6, 4, 0, 2] + Lab.gw2OutsideMAC.bytes
            + Lab.gw2Outside.bytes + Lab.gw1OutsideMAC.bytes + Lab.gw1Outside.bytes
        let frame = Lab.ethernet(
            destination: Lab.gw1OutsideMAC, source: Lab.gw2OutsideMAC,
            type: 0x0806, arp)
        XCTAssertEqual(gw1.outside(frame, sink: MemorySink()), .passed)
        let learned = try XCTUnwrap(gw1.context.neighbourQueues[0].pop())
        XCTAssertEqual(learned.key, NeighbourKey(interfaceIndex: 2, address: Lab.gw2Outside))
        XCTAssertEqual(learned.mac, Lab.gw2OutsideMAC)
    }

    func testIgnoresARPForOtherAddresses() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let arp: [UInt8] =
            [0, 1, 8, 0, 6, 4, 0, 2] + Lab.gw2OutsideMAC.bytes
            + Lab.gw2Outside.bytes + Lab.gw1OutsideMAC.bytes + IPAddress("198.51.100.77")!.bytes
        let frame = Lab.ethernet(
            destination: Lab.gw1OutsideMAC, source: Lab.gw2OutsideMAC,
            type: 0x0806, arp)
        _ = gw1.outside(frame, sink: MemorySink())
        XCTAssertNil(gw1.context.neighbourQueues[0].pop())
    }

    func testHeldFrameSentAfterARPReply() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let wire = MemorySink()
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .queued)
        wire.removeAll()

        // gw2's ARP reply resolves the hop on this worker, before the table has it.
        XCTAssertEqual(gw1.outside(NeighbourTests.arpReplyFromGW2, sink: MemorySink()), .passed)
        XCTAssertEqual(
            gw1.processHeldFrames(
                insideSink: MemorySink(), outsideSink: wire, now: monotonicNanoseconds()), 1)
        let esp = try XCTUnwrap(wire.frames.first)
        XCTAssertEqual(Array(esp[0..<6]), Lab.gw2OutsideMAC.bytes)
        XCTAssertEqual(Array(esp[6..<12]), Lab.gw1OutsideMAC.bytes)
        XCTAssertEqual(Array(esp[12..<14]), [0x08, 0x00])
        XCTAssertEqual(gw1.unresolved.frameCount, 0)

        // gw2 decrypts the held packet as it would any other.
        let delivered = MemorySink()
        XCTAssertEqual(gw2.outside(esp, sink: delivered), .forwarded(frames: 1))
        XCTAssertEqual(
            delivered.frames.first.map { Array($0[14...]) }, Lab.forwarded(Lab.ipv4UDP(), hops: 2))

        // The next packet goes straight out with the address this worker learned.
        wire.removeAll()
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .forwarded(frames: 1))
        XCTAssertEqual(wire.frames.first.map { Array($0[0..<6]) }, Lab.gw2OutsideMAC.bytes)
        XCTAssertEqual(gw1.context.dropTotals(), [:])
    }

    func testHeldFrameSentAfterTableUpdate() throws {
        let pair = Lab.saPair()
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        let inner = Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA)
        let insideWire = MemorySink()
        let frame = builder.frame(payload: inner, nextHeader: 4, sequence: 1)
        XCTAssertEqual(gw1.outside(frame, sink: insideWire), .queued)

        // The ARP request for host A goes out of the inside interface.
        let request = try XCTUnwrap(insideWire.frames.first)
        XCTAssertEqual(Array(request[6..<12]), Lab.gw1InsideMAC.bytes)
        XCTAssertEqual(Array(request[28..<32]), Lab.gw1Inside.bytes)  // sender address
        XCTAssertEqual(Array(request[38..<42]), Lab.hostA.bytes)  // target address
        insideWire.removeAll()

        // Nothing leaves while the address is unknown.
        let now = monotonicNanoseconds()
        gw1.processHeldFrames(insideSink: insideWire, outsideSink: MemorySink(), now: now)
        XCTAssertEqual(insideWire.frames, [])

        // The control thread publishes a table with host A's address.
        gw1.context.forwardingTable.publish(Lab.forwarding(gw1: true))
        XCTAssertEqual(
            gw1.processHeldFrames(insideSink: insideWire, outsideSink: MemorySink(), now: now), 1)
        XCTAssertEqual(
            insideWire.frames,
            [
                Lab.ethernet(
                    destination: Lab.hostAMAC, source: Lab.gw1InsideMAC, type: 0x0800,
                    Lab.forwarded(inner, hops: 1))
            ])
        XCTAssertEqual(state.counters.snapshot().bytesIn, UInt64(inner.count))
        XCTAssertTrue(gw1.unresolved.isEmpty)
        XCTAssertEqual(gw1.context.dropTotals(), [:])
    }

    func testHeldFramesExpireAfterLifetime() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let wire = MemorySink()
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .queued)
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .queued)
        let later = monotonicNanoseconds() + UnresolvedQueue.lifetime + 1
        wire.removeAll()
        XCTAssertEqual(gw1.processHeldFrames(insideSink: wire, outsideSink: wire, now: later), 0)
        XCTAssertEqual(gw1.context.drops[0].value(.unresolvedTimeout), 2)
        XCTAssertEqual(wire.frames, [])
        XCTAssertTrue(gw1.unresolved.isEmpty)
    }

    func testSolicitationRepeatedEvery200ms() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let wire = MemorySink()
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .queued)
        let start = monotonicNanoseconds()
        let millisecond: UInt64 = 1_000_000
        let inside = MemorySink()
        for (offset, expected) in [(100, 1), (250, 2), (300, 2), (460, 3)] {
            gw1.processHeldFrames(
                insideSink: inside, outsideSink: wire, now: start + UInt64(offset) * millisecond)
            XCTAssertEqual(wire.frames.count, expected, "ARP requests after \(offset) ms")
        }
        for request in wire.frames {
            XCTAssertEqual(Array(request[38..<42]), Lab.gw2Outside.bytes)  // target address
        }
        XCTAssertEqual(inside.frames, [])
    }

    func testQueueLimitedTo64Frames() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        let insideWire = MemorySink()
        var verdicts: [PacketVerdict] = []
        var sequence: UInt32 = 1
        // 22 inside hosts with 3 packets each: 66 frames for a queue of 64.
        for host in 10..<32 {
            let inner = Lab.ipv4UDP(
                source: Lab.hostB, destination: IPAddress.v4(0xC000_0200 | UInt32(host)))
            for _ in 0..<3 {
                let frame = builder.frame(payload: inner, nextHeader: 4, sequence: sequence)
                verdicts.append(gw1.outside(frame, sink: insideWire))
                sequence += 1
            }
        }
        XCTAssertEqual(verdicts.filter { $0 == .queued }.count, 64)
        XCTAssertEqual(
            Array(verdicts.suffix(2)),
            [.dropped(.unresolvedQueueFull), .dropped(.unresolvedQueueFull)])
        XCTAssertEqual(gw1.context.drops[0].value(.unresolvedQueueFull), 2)
        XCTAssertEqual(gw1.unresolved.frameCount, 64)
        // One ARP request per host.
        XCTAssertEqual(insideWire.frames.count, 22)
    }

    func testHeldFrameSentAfterAdvertisement() throws {
        let pair = Lab.saPair(outerIPv6: true)
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let wire = MemorySink()
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv6UDP()), sink: wire), .queued)

        // Neighbour Advertisement from gw2 with its target link-layer address option.
        var icmp: [UInt8] = [136, 0, 0, 0, 0x60, 0, 0, 0]  // type, code, checksum, S and O flags
        icmp += Lab.gw2Outside6.bytes + [2, 1] + Lab.gw2OutsideMAC.bytes
        var ip: [UInt8] = [0x60, 0, 0, 0, 0, UInt8(icmp.count), 58, 255]
        ip += Lab.gw2Outside6.bytes + Lab.gw1Outside6.bytes
        let advertisement = Lab.ethernet(
            destination: Lab.gw1OutsideMAC, source: Lab.gw2OutsideMAC, type: 0x86DD, ip + icmp)
        _ = gw1.outside(advertisement, sink: MemorySink())

        wire.removeAll()
        XCTAssertEqual(
            gw1.processHeldFrames(
                insideSink: MemorySink(), outsideSink: wire, now: monotonicNanoseconds()), 1)
        let esp = try XCTUnwrap(wire.frames.first)
        XCTAssertEqual(Array(esp[0..<6]), Lab.gw2OutsideMAC.bytes)
        XCTAssertEqual(Array(esp[12..<14]), [0x86, 0xDD])
        XCTAssertEqual(Array(esp[22..<38]), Lab.gw1Outside6.bytes)  // outer source
    }

    /// ARP reply from gw2: 198.51.100.2 is at gw2's MAC, sent to gw1.
    static let arpReplyFromGW2 = Lab.ethernet(
        destination: Lab.gw1OutsideMAC, source: Lab.gw2OutsideMAC, type: 0x0806,
        [0, 1, 8, 0, 6, 4, 0, 2] + Lab.gw2OutsideMAC.bytes + Lab.gw2Outside.bytes
            + Lab.gw1OutsideMAC.bytes + Lab.gw1Outside.bytes)
}
