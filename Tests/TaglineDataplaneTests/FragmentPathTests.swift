// Packets too big for the tunnel, end to end through two in-memory gateways:
// ICMP to the inner sender when DF is set, fragments before or after
// encryption when it is clear, path MTU learned from ICMP about ESP packets,
// and the limits of outer reassembly. The SA is AES-CBC-128 with
// HMAC-SHA1-96 and a CMD, so an inner packet fits a 1500-byte IPv4 outer
// packet up to 1430 bytes (1414 with an IPv6 outer header).

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class FragmentPathTests: XCTestCase {
    /// Builds an IPv4 UDP packet from host A to host B of `length` bytes, DF set or clear.
    private func udp(length: Int, dontFragment: Bool) -> [UInt8] {
        var packet = Lab.ipv4UDP(payload: (0..<(length - 28)).map { UInt8(truncatingIfNeeded: $0) })
        packet[6] = dontFragment ? 0x40 : 0
        packet.withUnsafeMutableBytes { buffer in
            buffer.writeUInt16(0, at: 10)
            let sum = InternetChecksum.sum(UnsafeRawBufferPointer(buffer.slice(0, 20)))
            buffer.writeUInt16(InternetChecksum.finish(sum), at: 10)
        }
        return packet
    }

    private func gateways(outerIPv6: Bool = false) throws -> (
        gw1: Pipeline, gw1State: SAState, gw2: Pipeline, gw2State: SAState
    ) {
        let pair = Lab.saPair(outerIPv6: outerIPv6)
        let (gw1, gw1State) = try Lab.gateway(
            gw1: true, sa: pair.gw1, bindings: [TaggingRulesTests.bindingHostA])
        let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
        return (gw1, gw1State, gw2, gw2State)
    }

    /// Sends `packet` into gw1 and returns the ICMP error host A gets back (IP packet).
    private func icmpReply(_ gw1: Pipeline, _ packet: [UInt8]) -> [UInt8]? {
        let wire = MemorySink()
        let replies = MemorySink()
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(packet), sink: wire, replies: replies), .dropped(.tooBig))
        XCTAssertEqual(wire.frames.count, 0)
        return replies.frames.first.map { Array($0[14...]) }
    }

    /// Reads the MTU an ICMP frag-needed (IPv4) or packet-too-big (IPv6) reply announces.
    private func announcedMTU(_ reply: [UInt8]?) -> Int? {
        guard let reply else { return nil }
        if reply[0] >> 4 == 4 {
            guard reply[9] == 1, reply[20] == 3, reply[21] == 4 else { return nil }
            return Int(reply[26]) << 8 | Int(reply[27])
        }
        guard reply[6] == 58, reply[40] == 2 else { return nil }
        return reply[44..<48].reduce(0) { $0 << 8 | Int($1) }
    }

    // MARK: - DF set

    func testDFSetIPv4() throws {
        let (gw1, _, _, _) = try gateways()
        let wire = MemorySink()
        let fits = udp(length: 1430, dontFragment: true)
        XCTAssertEqual(gw1.inside(Lab.fromHostA(fits), sink: wire), .forwarded(frames: 1))
        XCTAssertEqual(wire.frames.first?.count, 14 + 1496, "CBC blocks leave 4 bytes")
        XCTAssertEqual(announcedMTU(icmpReply(gw1, udp(length: 1431, dontFragment: true))), 1430)
    }

    func testDFSetIPv6() throws {
        let (gw1, _, _, _) = try gateways()
        // Host A has no IPv6 binding, so no CMD: 8 bytes more room.
        let packet = Lab.ipv6UDP(payload: [UInt8](repeating: 7, count: 1452))
        XCTAssertEqual(announcedMTU(icmpReply(gw1, packet)), 1438)
    }

    func testDFSetOuterIPv6() throws {
        let (gw1, _, _, _) = try gateways(outerIPv6: true)
        XCTAssertEqual(announcedMTU(icmpReply(gw1, udp(length: 1415, dontFragment: true))), 1414)
    }

    // MARK: - DF clear

    func testBeforeEncryptionEachTagged() throws {
        let (gw1, _, gw2, gw2State) = try gateways()
        let wire = MemorySink()
        let verdict = gw1.inside(Lab.fromHostA(udp(length: 1500, dontFragment: false)), sink: wire)
        XCTAssertEqual(verdict, .forwarded(frames: 2))
        for frame in wire.frames {
            XCTAssertEqual(gw2.outside(frame, sink: MemorySink()), .forwarded(frames: 1))
        }
        XCTAssertEqual(gw2State.counters.value(.untagged), 2)
        XCTAssertEqual(gw2State.counters.value(.decaps), 2)
    }

    /// Sends a 1500-byte packet without DF through gw1 with fragmentation after encryption;
    /// returns the outer fragments (IP packets) and what host B gets.
    private func afterEncryption(outerIPv6: Bool) throws -> (
        fragments: [[UInt8]], delivered: [[UInt8]], gw2State: SAState
    ) {
        let (gw1, _, gw2, gw2State) = try gateways(outerIPv6: outerIPv6)
        gw1.context.fragmentation.afterEncryption = true
        let wire = MemorySink()
        let packet = udp(length: 1500, dontFragment: false)
        XCTAssertEqual(gw1.inside(Lab.fromHostA(packet), sink: wire), .forwarded(frames: 2))
        let host = MemorySink()
        for (index, frame) in wire.frames.enumerated() {
            XCTAssertLessThanOrEqual(frame.count, 14 + 1500)
            let expected: PacketVerdict =
                index == wire.frames.count - 1 ? .forwarded(frames: 1) : .consumed
            XCTAssertEqual(gw2.outside(frame, sink: host), expected, "fragment \(index)")
        }
        let delivered = host.frames.map { Array($0[14...]) }
        XCTAssertEqual(delivered, [Lab.forwarded(packet, hops: 2)])
        return (wire.frames.map { Array($0[14...]) }, delivered, gw2State)
    }

    func testAfterEncryptionIPv4() throws {
        let (fragments, _, gw2State) = try afterEncryption(outerIPv6: false)
        XCTAssertEqual(fragments.map { $0[9] }, [50, 50], "both fragments carry ESP")
        XCTAssertEqual(fragments.map { $0[6] }, [0x20, 0x00], "MF then last, DF clear")
        XCTAssertEqual(fragments[0][4...5], fragments[1][4...5], "one identification")
        XCTAssertEqual(gw2State.counters.value(.untagged), 1, "one CMD")
        XCTAssertEqual(gw2State.counters.value(.decaps), 1)
    }

    func testAfterEncryptionIPv6() throws {
        let (fragments, _, gw2State) = try afterEncryption(outerIPv6: true)
        XCTAssertEqual(fragments.map { $0[6] }, [44, 44], "Fragment header")
        XCTAssertEqual(fragments.map { $0[40] }, [50, 50], "ESP after it")
        XCTAssertEqual(fragments.map { $0[43] & 1 }, [1, 0], "M flag")
        XCTAssertEqual(gw2State.counters.value(.untagged), 1)
    }

    func testAfterEncryptionKeepsDF() throws {
        let (gw1, _, _, _) = try gateways()
        gw1.context.fragmentation.afterEncryption = true
        XCTAssertEqual(announcedMTU(icmpReply(gw1, udp(length: 1500, dontFragment: true))), 1430)
    }

    /// Checks that gw2 cuts a decrypted packet longer than its 1400-byte inside link into
    /// fragments when DF is clear, and drops it as too big when DF is set.
    func testInsideMTUFragments() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(
            gw1: true, sa: pair.gw1, bindings: [TaggingRulesTests.bindingHostA])
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2, insideMTU: 1400)
        let packet = udp(length: 1430, dontFragment: false)
        let wire = MemorySink()
        XCTAssertEqual(gw1.inside(Lab.fromHostA(packet), sink: wire), .forwarded(frames: 1))
        let host = MemorySink()
        XCTAssertEqual(gw2.outside(wire.frames[0], sink: host), .forwarded(frames: 2))
        let fragments = host.frames.map { Array($0[14...]) }
        XCTAssertEqual(fragments.map { $0.count }, [1396, 54])
        XCTAssertEqual(fragments.map { $0[6] }, [0x20, 0x00], "MF, then offset 172 units")
        XCTAssertEqual(fragments.map { $0[7] }, [0, 172])
        let forwarded = Lab.forwarded(packet, hops: 2)
        XCTAssertEqual(Array(fragments[0][20...]), Array(forwarded[20..<1396]))
        XCTAssertEqual(Array(fragments[1][20...]), Array(forwarded[1396...]))
        for fragment in fragments {
            let sum = fragment.withUnsafeBytes {
                InternetChecksum.finish(
                    InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: $0[0..<20])))
            }
            XCTAssertEqual(sum, 0, "header checksum")
        }

        wire.removeAll()
        host.removeAll()
        _ = gw1.inside(Lab.fromHostA(udp(length: 1430, dontFragment: true)), sink: wire)
        XCTAssertEqual(gw2.outside(wire.frames[0], sink: host), .dropped(.tooBig))
        XCTAssertEqual(host.frames.count, 0)
    }

    /// Checks that a flood of packets too big for the tunnel gets a burst of ICMP errors, then
    /// about one a millisecond, and that the errors not sent are counted.
    func testICMPErrorsRateLimited() throws {
        let (gw1, _, _, _) = try gateways()
        let replies = MemorySink(capacity: 1000)
        let packet = Lab.fromHostA(udp(length: 1431, dontFragment: true))
        let started = monotonicNanoseconds()
        for _ in 0..<1000 {
            XCTAssertEqual(
                gw1.inside(packet, sink: MemorySink(), replies: replies), .dropped(.tooBig))
        }
        let milliseconds = Int((monotonicNanoseconds() - started) / 1_000_000)
        let limited = Int(gw1.context.dropTotals()["icmpRateLimited"] ?? 0)
        XCTAssertEqual(replies.frames.count + limited, 1000)
        XCTAssertGreaterThanOrEqual(replies.frames.count, 50)
        XCTAssertLessThanOrEqual(replies.frames.count, 51 + milliseconds)
    }

    /// Checks the token bucket on its own clock: a burst of 50, then one token a millisecond.
    func testICMPRateLimitBucket() {
        var limit = ICMPRateLimit()
        let start: UInt64 = 5_000_000_000
        XCTAssertEqual((0..<60).filter { _ in limit.take(now: start) }.count, 50)
        XCTAssertFalse(limit.take(now: start + 999_999))
        XCTAssertTrue(limit.take(now: start + 1_000_000))
        XCTAssertFalse(limit.take(now: start + 1_500_000))
        XCTAssertEqual((0..<60).filter { _ in limit.take(now: start + 11_000_000) }.count, 10)
        XCTAssertEqual((0..<60).filter { _ in limit.take(now: start + 1_000_000_000) }.count, 50)
    }

    // MARK: - Path MTU

    /// Returns an ICMP error from a router between the gateways to gw1, quoting the start of `esp`
    /// (an outer IP packet) and announcing `mtu`.
    private func packetTooBig(quoting esp: [UInt8], mtu: Int) -> [UInt8] {
        if esp[0] >> 4 == 4 {
            let quoted = Array(esp.prefix(28))
            var packet: [UInt8] = [
                0x45, 0, 0, UInt8(28 + quoted.count), 0, 1, 0, 0, 64, 1, 0, 0,
            ]
            packet += IPAddress("198.51.100.254")!.bytes + Lab.gw1Outside.bytes
            packet += [3, 4, 0, 0, 0, 0, UInt8(mtu >> 8), UInt8(mtu & 0xFF)] + quoted
            return Lab.ethernet(
                destination: Lab.gw1OutsideMAC, source: Lab.gw2OutsideMAC, type: 0x0800, packet)
        }
        let quoted = Array(esp.prefix(48))
        let length = 8 + quoted.count
        var packet: [UInt8] = [0x60, 0, 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), 58, 64]
        packet += IPAddress("2001:db8:100::fe")!.bytes + Lab.gw1Outside6.bytes
        packet += [2, 0, 0, 0] + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: mtu >> Int($0)) }
        return Lab.ethernet(
            destination: Lab.gw1OutsideMAC, source: Lab.gw2OutsideMAC, type: 0x86DD,
            packet + quoted)
    }

    /// Returns the outer IP packet gw1 sends for a small packet.
    private func sentESP(_ gw1: Pipeline) -> [UInt8] {
        let wire = MemorySink()
        _ = gw1.inside(Lab.fromHostA(udp(length: 100, dontFragment: true)), sink: wire)
        return Array(wire.frames[0][14...])
    }

    func testPacketTooBigLowersPathMTU() throws {
        let (gw1, state, _, _) = try gateways()
        let icmp = packetTooBig(quoting: sentESP(gw1), mtu: 1400)
        XCTAssertEqual(gw1.outside(icmp, sink: MemorySink()), .consumed)
        XCTAssertEqual(state.pathMTU.effective(interfaceMTU: 1500), 1400)
        XCTAssertEqual(state.pathMTU.updates, 1)
        XCTAssertEqual(announcedMTU(icmpReply(gw1, udp(length: 1335, dontFragment: true))), 1334)

        // Without DF the packet is fragmented to the path MTU.
        let wire = MemorySink()
        _ = gw1.inside(Lab.fromHostA(udp(length: 1430, dontFragment: false)), sink: wire)
        XCTAssertEqual(wire.frames.map { $0.count <= 14 + 1400 }, [true, true])

        // IOS keeps the value for 10 minutes.
        let now = monotonicNanoseconds()
        XCTAssertEqual(state.pathMTU.learned(now: now), 1400)
        XCTAssertNil(state.pathMTU.learned(now: now + PathMTU.lifetime))
    }

    func testPacketTooBigIPv6() throws {
        let (gw1, state, _, _) = try gateways(outerIPv6: true)
        let icmp = packetTooBig(quoting: sentESP(gw1), mtu: 1300)
        XCTAssertEqual(gw1.outside(icmp, sink: MemorySink()), .consumed)
        XCTAssertEqual(announcedMTU(icmpReply(gw1, udp(length: 1300, dontFragment: true))), 1206)
        // Below the IPv6 minimum MTU: raised to 1280.
        _ = gw1.outside(packetTooBig(quoting: sentESP(gw1), mtu: 600), sink: MemorySink())
        XCTAssertEqual(state.pathMTU.effective(interfaceMTU: 1500), 1280)
    }

    /// Checks that a path narrower than 1280 bytes plus ESP carries 1280-byte IPv6 packets as
    /// outer fragments. IPv6 senders do not go below 1280 (RFC 8201 §4), so an ICMPv6
    /// "packet too big" alone would lose them.
    func testIPv6MinimumMTUCarried() throws {
        for (outerIPv6, mtu) in [(false, 576), (true, 1280)] {
            let (gw1, _, gw2, _) = try gateways(outerIPv6: outerIPv6)
            _ = gw1.outside(packetTooBig(quoting: sentESP(gw1), mtu: mtu), sink: MemorySink())
            let packet = Lab.ipv6UDP(payload: [UInt8](repeating: 7, count: 1280 - 48))
            let wire = MemorySink()
            let replies = MemorySink()
            let verdict = gw1.inside(Lab.fromHostA(packet), sink: wire, replies: replies)
            XCTAssertEqual(replies.frames.count, 0, "outer MTU \(mtu)")
            guard case .forwarded(let count) = verdict, count >= 2 else {
                XCTFail("outer MTU \(mtu): \(verdict)")
                continue
            }
            XCTAssertEqual(
                wire.frames.map { $0.count <= 14 + mtu }, Array(repeating: true, count: count))
            let host = MemorySink()
            for frame in wire.frames { _ = gw2.outside(frame, sink: host) }
            XCTAssertEqual(host.frames.map { Array($0[14...]) }, [Lab.forwarded(packet, hops: 2)])
        }
    }

    func testPacketTooBigClampedAndIgnored() throws {
        let (gw1, state, _, _) = try gateways()
        let esp = sentESP(gw1)
        XCTAssertEqual(
            gw1.outside(packetTooBig(quoting: esp, mtu: 9000), sink: MemorySink()),
            .dropped(.packetTooBigIgnored))
        XCTAssertEqual(
            gw1.outside(packetTooBig(quoting: esp, mtu: 0), sink: MemorySink()),
            .dropped(.packetTooBigIgnored))
        XCTAssertEqual(
            gw1.outside(packetTooBig(quoting: esp, mtu: 100), sink: MemorySink()), .consumed)
        XCTAssertEqual(state.pathMTU.effective(interfaceMTU: 1500), 576)
    }

    func testForgedPacketTooBig() throws {
        let (gw1, state, _, _) = try gateways()
        var wrongSPI = sentESP(gw1)
        wrongSPI[20] ^= 0xFF
        var wrongPeer = sentESP(gw1)
        wrongPeer[19] = 77  // quoted destination 198.51.100.77
        for quoted in [wrongSPI, wrongPeer, Array(sentESP(gw1).prefix(22))] {
            XCTAssertEqual(
                gw1.outside(packetTooBig(quoting: quoted, mtu: 1300), sink: MemorySink()),
                .dropped(.packetTooBigMismatch))
        }
        XCTAssertNil(state.pathMTU.learned(now: monotonicNanoseconds()))
        XCTAssertEqual(gw1.context.dropTotals()["packetTooBigMismatch"], 3)
        XCTAssertEqual(announcedMTU(icmpReply(gw1, udp(length: 1431, dontFragment: true))), 1430)
    }

    // MARK: - Reassembly limits

    /// Returns the first of two outer fragments gw1 sends for a 1500-byte packet, with the outer
    /// identification set to `identification`.
    private func firstFragment(_ gw1: Pipeline, identification: UInt16) -> [UInt8] {
        let wire = MemorySink()
        _ = gw1.inside(Lab.fromHostA(udp(length: 1500, dontFragment: false)), sink: wire)
        var frame = wire.frames[0]
        frame[18] = UInt8(identification >> 8)
        frame[19] = UInt8(identification & 0xFF)
        frame[24] = 0
        frame[25] = 0
        let sum = frame.withUnsafeBytes {
            InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: $0[14..<34]))
        }
        let checksum = InternetChecksum.finish(sum)
        frame[24] = UInt8(checksum >> 8)
        frame[25] = UInt8(checksum & 0xFF)
        return frame
    }

    func testReassemblyOverflowCounted() throws {
        let (gw1, _, gw2, _) = try gateways()
        gw1.context.fragmentation.afterEncryption = true
        for identification in UInt16(1)...65 {
            XCTAssertEqual(
                gw2.outside(firstFragment(gw1, identification: identification), sink: MemorySink()),
                .consumed)
        }
        XCTAssertEqual(gw2.reassembler.pendingCount, 64)
        XCTAssertEqual(gw2.context.dropTotals()["reassemblyFailed"], 1)
    }

    func testReassemblyTimeoutCounted() throws {
        let (gw1, _, gw2, _) = try gateways()
        gw1.context.fragmentation.afterEncryption = true
        _ = gw2.outside(firstFragment(gw1, identification: 1), sink: MemorySink())
        gw2.reassembler.expire(now: monotonicNanoseconds() + gw2.reassembler.timeout)
        XCTAssertEqual(gw2.reassembler.pendingCount, 0)
        _ = gw2.outside(firstFragment(gw1, identification: 2), sink: MemorySink())
        XCTAssertEqual(gw2.context.dropTotals()["reassemblyTimeout"], 1)
    }

    func testReassemblyByteLimit() {
        let reassembler = FragmentReassembler(maximumBytes: 64)
        let data = [UInt8](repeating: 1, count: 40)
        for identification in UInt32(1)...2 {
            let key = FragmentKey(
                source: Lab.gw1Outside, destination: Lab.gw2Outside,
                identification: identification, ipProtocol: 50)
            let fragment = FragmentInfo(
                key: key, offset: 0, more: true, dataOffset: 0, dataLength: 40)
            _ = data.withUnsafeBytes { reassembler.add(fragment, data: $0, now: 1) }
        }
        XCTAssertEqual(reassembler.pendingCount, 1)
        XCTAssertEqual(reassembler.heldBytes, 40)
        XCTAssertEqual(reassembler.takeDiscarded().evicted, 1)
    }
}
