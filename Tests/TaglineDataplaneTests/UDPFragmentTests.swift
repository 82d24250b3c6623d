// UDP GSO frames whose datagrams do not fit the tunnel. The lab SA (AES-CBC-128,
// HMAC-SHA1-96, CMD) carries inner packets up to 1430 bytes in a 1500-byte
// IPv4 outer packet. An IPv4 datagram without DF is fragmented, each fragment
// tagged. With DF set, and for IPv6 datagrams over 1280 bytes, the frame is
// dropped and the sender gets an ICMP error.

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class UDPFragmentTests: XCTestCase {
    private struct Result {
        var verdict: PacketVerdict
        /// ESP frames gw1 sent.
        var wire: [[UInt8]]
        /// ICMP errors gw1 sent back to host A (IP packets).
        var replies: [[UInt8]]
        /// IP packets host B got from gw2.
        var delivered: [[UInt8]]
        var gw2State: SAState
    }

    /// Sends `packet` from host A as one UDP GSO frame through gw1 and gw2.
    private func send(
        _ packet: [UInt8], gsoSize: Int, afterEncryption: Bool = false, pathMTU: Int? = nil
    ) throws -> Result {
        let pair = Lab.saPair()
        let (gw1, gw1State) = try Lab.gateway(
            gw1: true, sa: pair.gw1, bindings: [TaggingRulesTests.bindingHostA])
        let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
        gw1.context.fragmentation.afterEncryption = afterEncryption
        if let pathMTU { gw1State.pathMTU.lower(to: pathMTU, now: monotonicNanoseconds()) }
        let isIPv4 = packet[0] >> 4 == 4
        let offload = OffloadHeader(
            needsChecksum: true, checksumStart: 14 + (isIPv4 ? 20 : 40), checksumOffset: 6,
            gsoType: OffloadHeader.gsoUDPL4, gsoSize: gsoSize)
        let wire = MemorySink(capacity: 200)
        let replies = MemorySink()
        let verdict = gw1.inside(
            Lab.fromHostA(packet), offload: offload, sink: wire, replies: replies)
        let host = MemorySink(capacity: 200)
        for frame in wire.frames {
            XCTAssertLessThanOrEqual(frame.count - 14, pathMTU ?? 1500, "outer packet size")
            _ = gw2.outside(frame, sink: host)
        }
        return Result(
            verdict: verdict, wire: wire.frames, replies: replies.frames.map { Array($0[14...]) },
            delivered: host.frames.map { Array($0[14...]) }, gw2State: gw2State)
    }

    /// Builds an IPv4 UDP packet from host A to host B with DF clear.
    private func ipv4WithoutDF(payload: [UInt8]) -> [UInt8] {
        Lab.withoutDF(Lab.ipv4UDP(payload: payload))
    }

    private func payload(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    }

    /// Reassembles IPv4 fragments as the receiving host would, in order of identification.
    private func reassemble(_ fragments: [[UInt8]]) -> [[UInt8]] {
        let groups = Dictionary(grouping: fragments) { UInt16($0[4]) << 8 | UInt16($0[5]) }
        return groups.keys.sorted().map { identification in
            let parts = groups[identification]!.sorted {
                (Int($0[6] & 0x1F) << 8 | Int($0[7])) < (Int($1[6] & 0x1F) << 8 | Int($1[7]))
            }
            var data: [UInt8] = []
            for part in parts {
                let offset = (Int(part[6] & 0x1F) << 8 | Int(part[7])) * 8
                XCTAssertEqual(offset, data.count, "fragment \(identification) offset")
                data += part[20...]
            }
            XCTAssertEqual(parts.last.map { $0[6] & 0x20 }, 0, "last fragment without MF")
            var datagram = Array(parts[0][0..<20]) + data
            datagram[2] = UInt8(datagram.count >> 8)
            datagram[3] = UInt8(datagram.count & 0xFF)
            return datagram
        }
    }

    /// Tells whether the UDP checksum of an IPv4 or IPv6 datagram verifies.
    private func udpChecksumValid(_ datagram: [UInt8]) -> Bool {
        let isIPv4 = datagram[0] >> 4 == 4
        let udpOffset = isIPv4 ? 20 : 40
        let addressLength = isIPv4 ? 4 : 16
        let sourceOffset = isIPv4 ? 12 : 8
        let source = IPAddress(bytes: datagram[sourceOffset..<sourceOffset + addressLength])!
        let destination = IPAddress(
            bytes: datagram[sourceOffset + addressLength..<sourceOffset + 2 * addressLength])!
        let length = datagram.count - udpOffset
        let pseudo = InternetChecksum.pseudoHeaderSum(
            source: source, destination: destination, ipProtocol: 17, length: length)
        let sum = datagram.withUnsafeBytes {
            InternetChecksum.sum($0.slice(udpOffset, length), initial: pseudo)
        }
        return InternetChecksum.finish(sum) == 0
    }

    /// Checks that `datagrams` are the frame's datagrams of `sizes` payload bytes, in order.
    private func checkDatagrams(
        _ datagrams: [[UInt8]], sizes: [Int], payload: [UInt8], isIPv4: Bool, name: String
    ) {
        XCTAssertEqual(datagrams.map { $0.count - (isIPv4 ? 28 : 48) }, sizes, name)
        var joined: [UInt8] = []
        for (index, datagram) in datagrams.enumerated() {
            let udpOffset = isIPv4 ? 20 : 40
            let udpLength = Int(datagram[udpOffset + 4]) << 8 | Int(datagram[udpOffset + 5])
            XCTAssertEqual(udpLength, datagram.count - udpOffset, "\(name) \(index) UDP length")
            XCTAssertTrue(udpChecksumValid(datagram), "\(name) \(index) UDP checksum")
            XCTAssertEqual(datagram[isIPv4 ? 8 : 7], 62, "\(name) \(index) two hops")
            if isIPv4 {
                let identification = UInt16(datagram[4]) << 8 | UInt16(datagram[5])
                XCTAssertEqual(identification, 0x1234 &+ UInt16(index), "\(name) \(index) id")
            }
            joined += datagram[(udpOffset + 8)...]
        }
        XCTAssertEqual(joined, payload, "\(name) payload in order")
    }

    func testDFClearFragmentsEachTagged() throws {
        let data = payload(3000)
        let result = try send(ipv4WithoutDF(payload: data), gsoSize: 1450)
        // Two 1478-byte datagrams in two fragments each, then a 128-byte one whole.
        XCTAssertEqual(result.verdict, .forwarded(frames: 5))
        XCTAssertEqual(result.delivered.map(\.count), [1428, 70, 1428, 70, 128])
        XCTAssertEqual(result.gw2State.counters.value(.untagged), 5, "a CMD in each fragment")
        XCTAssertEqual(result.gw2State.counters.value(.decaps), 5)
        XCTAssertTrue(result.replies.isEmpty)
        checkDatagrams(
            reassemble(result.delivered), sizes: [1450, 1450, 100], payload: data, isIPv4: true,
            name: "before encryption")
    }

    func testDFClearAfterEncryption() throws {
        let data = payload(3000)
        let result = try send(ipv4WithoutDF(payload: data), gsoSize: 1450, afterEncryption: true)
        XCTAssertEqual(result.verdict, .forwarded(frames: 5))
        XCTAssertEqual(result.gw2State.counters.value(.untagged), 3, "one CMD per datagram")
        checkDatagrams(
            result.delivered, sizes: [1450, 1450, 100], payload: data, isIPv4: true,
            name: "after encryption")
    }

    /// Checks that a frame with DF set keeps the drop and gets "fragmentation needed" with the
    /// tunnel's inner MTU, as a single packet with DF set does.
    func testDFSetDroppedWithICMP() throws {
        let packet = Lab.ipv4UDP(payload: payload(3000))
        let result = try send(packet, gsoSize: 1450)
        XCTAssertEqual(result.verdict, .dropped(.tooBig))
        XCTAssertTrue(result.wire.isEmpty)
        XCTAssertEqual(result.replies.count, 1)
        guard let reply = result.replies.first else { return }
        XCTAssertEqual(Array(reply[20..<22]), [3, 4], "fragmentation needed")
        XCTAssertEqual(Int(reply[26]) << 8 | Int(reply[27]), 1430, "next-hop MTU")
        XCTAssertEqual(Array(reply[28..<48]), Array(packet[0..<20]), "quotes the frame's header")
    }

    func testIPv6OverMinimumDropped() throws {
        let result = try send(Lab.ipv6UDP(payload: payload(3000)), gsoSize: 1400)
        XCTAssertEqual(result.verdict, .dropped(.tooBig))
        XCTAssertTrue(result.wire.isEmpty)
        XCTAssertEqual(result.replies.count, 1)
        guard let reply = result.replies.first else { return }
        XCTAssertEqual(Array(reply[40..<42]), [2, 0], "packet too big")
        XCTAssertEqual(reply[44..<48].reduce(0) { $0 << 8 | Int($1) }, 1438, "MTU")
    }

    /// Checks that IPv6 datagrams of at most 1280 bytes cross a path narrower than that plus
    /// ESP as outer fragments, because IPv6 senders do not go below 1280 bytes.
    func testIPv6MinimumOuterFragments() throws {
        let data = payload(2400)
        let result = try send(Lab.ipv6UDP(payload: data), gsoSize: 1200, pathMTU: 1280)
        XCTAssertEqual(result.verdict, .forwarded(frames: 4))
        XCTAssertTrue(result.replies.isEmpty)
        checkDatagrams(
            result.delivered, sizes: [1200, 1200], payload: data, isIPv4: false,
            name: "IPv6 outer fragments")
    }
}
