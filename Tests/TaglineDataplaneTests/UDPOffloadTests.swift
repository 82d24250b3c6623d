import CTaglineShim
import TaglineCore
import XCTest

@testable import TaglineDataplane

/// UDP GSO frames (a sender that set UDP_SEGMENT) cut into datagrams before encryption.
final class UDPOffloadTests: XCTestCase {
    private static let binding6 = SGTBinding(
        prefix: IPPrefix("2001:db8:a::2/128")!, sgt: SGT(334)!, source: .config)

    /// Sends `packet` from host A through gw1 and gw2 as one UDP GSO frame. Returns gw1's
    /// verdict and the IP packets host B gets.
    private func throughTunnel(_ packet: [UInt8], gsoSize: Int) throws
        -> (verdict: PacketVerdict, delivered: [[UInt8]])
    {
        let pair = Lab.saPair(encryption: .aesCBC128, integrity: .hmacSHA1_96)
        let (gw1, _) = try Lab.gateway(
            gw1: true, sa: pair.gw1, bindings: [TaggingRulesTests.bindingHostA, Self.binding6])
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let isIPv4 = packet[0] >> 4 == 4
        // The sender's partial checksum starts at the UDP header: Ethernet plus the IP header.
        let offload = OffloadHeader(
            needsChecksum: true, checksumStart: 14 + (isIPv4 ? 20 : 40), checksumOffset: 6,
            gsoType: OffloadHeader.gsoUDPL4, gsoSize: gsoSize)
        let wire = MemorySink(capacity: 200)
        let verdict = gw1.inside(Lab.fromHostA(packet), offload: offload, sink: wire)
        var delivered: [[UInt8]] = []
        for frame in wire.frames {
            XCTAssertLessThanOrEqual(frame.count - 14, 1500, "outer packet within the MTU")
            let sink = MemorySink()
            XCTAssertEqual(gw2.outside(frame, sink: sink), .forwarded(frames: 1))
            delivered += sink.frames.map { Array($0[14...]) }
        }
        return (verdict, delivered)
    }

    /// True when the UDP checksum of `datagram` (an IPv4 or IPv6 packet) verifies.
    private func udpChecksumValid(_ datagram: [UInt8]) -> Bool {
        datagram.withUnsafeBytes { buffer in
            let isIPv4 = buffer[0] >> 4 == 4
            let udpOffset = isIPv4 ? 20 : 40
            let addressLength = isIPv4 ? 4 : 16
            let sourceOffset = isIPv4 ? 12 : 8
            let source = IPAddress(bytes: buffer[sourceOffset..<sourceOffset + addressLength])!
            let destination = IPAddress(
                bytes: buffer[sourceOffset + addressLength..<sourceOffset + 2 * addressLength])!
            let length = buffer.count - udpOffset
            let pseudo = InternetChecksum.pseudoHeaderSum(
                source: source, destination: destination, ipProtocol: 17, length: length)
            let sum = InternetChecksum.sum(buffer.slice(udpOffset, length), initial: pseudo)
            return buffer.readUInt16(at: udpOffset + 6) != 0 && InternetChecksum.finish(sum) == 0
        }
    }

    func testSegmentsUDPGSOFrames() throws {
        let cases: [(ipv4: Bool, payload: Int, gsoSize: Int, sizes: [Int])] = [
            (true, 3000, 1000, [1000, 1000, 1000]),
            (true, 2500, 1000, [1000, 1000, 500]),
            (true, 1000, 1000, [1000]),
            (true, 7001, 1400, [1400, 1400, 1400, 1400, 1400, 1]),
            (false, 3000, 1000, [1000, 1000, 1000]),
            (false, 1201, 600, [600, 600, 1]),
        ]
        for (ipv4, payloadLength, gsoSize, sizes) in cases {
            let name = "\(ipv4 ? "IPv4" : "IPv6") \(payloadLength)/\(gsoSize)"
            let payload = (0..<payloadLength).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
            let packet = ipv4 ? Lab.ipv4UDP(payload: payload) : Lab.ipv6UDP(payload: payload)
            let (verdict, delivered) = try throughTunnel(packet, gsoSize: gsoSize)
            XCTAssertEqual(verdict, .forwarded(frames: sizes.count), name)
            XCTAssertEqual(delivered.map { $0.count - (ipv4 ? 28 : 48) }, sizes, name)

            var joined: [UInt8] = []
            for (index, datagram) in delivered.enumerated() {
                let label = "\(name) datagram \(index)"
                let udpOffset = ipv4 ? 20 : 40
                let udpLength = Int(datagram[udpOffset + 4]) << 8 | Int(datagram[udpOffset + 5])
                XCTAssertEqual(udpLength, datagram.count - udpOffset, "\(label) UDP length")
                XCTAssertTrue(udpChecksumValid(datagram), "\(label) UDP checksum")
                XCTAssertEqual(
                    Array(datagram[udpOffset..<udpOffset + 4]),
                    Array(packet[udpOffset..<udpOffset + 4]), "\(label) ports")
                if ipv4 {
                    let totalLength = Int(datagram[2]) << 8 | Int(datagram[3])
                    XCTAssertEqual(totalLength, datagram.count, "\(label) total length")
                    let header = datagram.withUnsafeBytes {
                        InternetChecksum.finish(InternetChecksum.sum($0.slice(0, 20)))
                    }
                    XCTAssertEqual(header, 0, "\(label) header checksum")
                    let identification = UInt16(datagram[4]) << 8 | UInt16(datagram[5])
                    XCTAssertEqual(identification, 0x1234 &+ UInt16(index), "\(label) id")
                } else {
                    let payloadLength = Int(datagram[4]) << 8 | Int(datagram[5])
                    XCTAssertEqual(payloadLength, datagram.count - 40, "\(label) payload length")
                }
                joined += datagram[(udpOffset + 8)...]
            }
            XCTAssertEqual(joined, payload, "\(name) payload in order")
        }
    }

    func testRejectsBadUDPGSOFrames() throws {
        let udp = Lab.ipv4UDP(payload: [UInt8](repeating: 7, count: 3000))
        var tcp = udp
        tcp[9] = 6  // protocol TCP under a UDP GSO type
        let cases: [(packet: [UInt8], gsoSize: Int, reason: DropReason, name: String)] = [
            (udp, 1420, .tooBig, "datagram larger than the tunnel, DF set"),
            (udp, 0, .unsupportedOffload, "zero gso_size"),
            (tcp, 1000, .unsupportedOffload, "not UDP"),
            (Lab.ipv4UDP(payload: []), 1000, .unsupportedOffload, "no payload"),
        ]
        for (packet, gsoSize, reason, name) in cases {
            let (verdict, delivered) = try throughTunnel(packet, gsoSize: gsoSize)
            XCTAssertEqual(verdict, .dropped(reason), name)
            XCTAssertTrue(delivered.isEmpty, name)
        }
    }
}
