// Interface MTUs from zero to the Ethernet default, on either side of either
// gateway, changed between packets as `ip link set mtu` changes them under
// traffic. Every frame that leaves must fit its link, and nothing may trap.

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class TinyMTUTests: XCTestCase {
    private static let mtus = [0, 20, 28, 40, 68, 100, 576, 1279, 1280, 1400, 1500]

    /// Returns `table` with the given MTUs, or the current ones where nil.
    private func table(_ table: ForwardingTable, inside: Int?, outside: Int?) -> ForwardingTable {
        var insideInterface = table.inside
        var outsideInterface = table.outside
        insideInterface.mtu = inside ?? insideInterface.mtu
        outsideInterface.mtu = outside ?? outsideInterface.mtu
        return ForwardingTable(
            inside: insideInterface, outside: outsideInterface, routes: table.routes,
            neighbours: table.neighbours)
    }

    /// Sends DF, non-DF and IPv6 packets of several sizes through gw1 and gw2 for every pair
    /// of MTUs, the outside MTU at gw1 and the inside MTU at gw2 changed before each packet.
    func testAllPairs() throws {
        let pair = Lab.saPair()
        let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
        gw1State.sequence.grant(SequenceLease(first: 1, count: 1 << 30))
        var packets = [[UInt8]]()
        for size in [60, 600, 1300, 1472] {
            let payload = [UInt8](repeating: 3, count: size)
            packets.append(Lab.ipv4UDP(payload: payload))
            packets.append(Lab.withoutDF(Lab.ipv4UDP(payload: payload)))
            packets.append(Lab.ipv6UDP(payload: payload))
        }
        let gw1Base = gw1.context.forwardingTable.current
        let gw2Base = gw2.context.forwardingTable.current
        var sent = 0
        var delivered = 0
        for outsideMTU in Self.mtus {
            for insideMTU in Self.mtus {
                gw1.context.forwardingTable.publish(
                    table(gw1Base, inside: nil, outside: outsideMTU))
                gw2.context.forwardingTable.publish(
                    table(gw2Base, inside: insideMTU, outside: nil))
                for packet in packets {
                    let wire = MemorySink(capacity: 200)
                    let replies = MemorySink(capacity: 200)
                    _ = gw1.inside(Lab.fromHostA(packet), sink: wire, replies: replies)
                    for frame in wire.frames {
                        XCTAssertLessThanOrEqual(frame.count - 14, max(outsideMTU, 0))
                        let host = MemorySink(capacity: 200)
                        let back = MemorySink(capacity: 200)
                        _ = gw2.outside(frame, sink: host, replies: back)
                        sent += 1
                        delivered += host.frames.count
                        for out in host.frames {
                            XCTAssertLessThanOrEqual(
                                out.count - 14, insideMTU, "inside \(insideMTU)")
                        }
                    }
                }
                gw1.context.epochs.reclaim()
                gw2.context.epochs.reclaim()
            }
        }
        XCTAssertGreaterThan(sent, 0)
        XCTAssertGreaterThan(delivered, 0)
    }

    /// Checks that an error sent on the inside link fits that link's MTU: here 300 bytes,
    /// below the 576 bytes an IPv4 error may otherwise take.
    func testInsideErrorFitsLink() throws {
        let (gw1, _) = try Lab.gateway(gw1: true, sa: Lab.saPair().gw1, insideMTU: 300)
        let packet = Lab.ipv4UDP(payload: [UInt8](repeating: 3, count: 1472))
        let replies = MemorySink()
        let verdict = gw1.inside(Lab.fromHostA(packet), sink: MemorySink(), replies: replies)
        XCTAssertEqual(verdict, .dropped(.tooBig))
        XCTAssertEqual(replies.frames.count, 1)
        XCTAssertEqual(replies.frames.first?.count, 14 + 300)
    }
}
