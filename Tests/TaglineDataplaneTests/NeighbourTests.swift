import TaglineCore
import XCTest

@testable import TaglineDataplane

final class NeighbourTests: XCTestCase {
    func testUnknownNeighbourSendsARPRequest() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1, neighbours: false)
        let wire = MemorySink()
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire),
            .dropped(.noNeighbour))
        XCTAssertEqual(gw1.context.drops[0].value(.noNeighbour), 1)
        let request = try XCTUnwrap(wire.frames.first)
        XCTAssertEqual(request.count, 60)
        XCTAssertEqual(Array(request[0..<6]), MACAddress.broadcast.bytes)
        XCTAssertEqual(Array(request[6..<12]), Lab.gw1OutsideMAC.bytes)
        XCTAssertEqual(Array(request[12..<14]), [0x08, 0x06])  // ARP
        XCTAssertEqual(Array(request[14..<22]), [0, 1, 8, 0, 6, 4, 0, 1])  // Ethernet/IPv4, request
        XCTAssertEqual(Array(request[28..<32]), Lab.gw1Outside.bytes)  // sender address
        XCTAssertEqual(Array(request[38..<42]), Lab.gw2Outside.bytes)  // target address

        // A second packet within a second sends no second request.
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire),
            .dropped(.noNeighbour))
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
}
