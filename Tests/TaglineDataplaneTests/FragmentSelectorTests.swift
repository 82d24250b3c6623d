// Non-initial fragments and port selectors (RFC 4301 §7.1, §7.2). A fragment
// without the transport header may only leave on an SA whose port selectors
// are ANY or OPAQUE. Initial fragments carry the ports and match as whole
// packets. Each table row runs whole packet, initial fragment and later
// fragment through one pipeline, in that order, so the outbound SA cache already
// contains the ported flow's SA when the fragment arrives.

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class FragmentSelectorTests: XCTestCase {
    private enum Ports {
        /// 0-65535.
        case any
        /// UDP destination port 53 only, the port of the lab's packets.
        case dns
        /// UDP destination port 80 only, which the lab's packets never use.
        case http
        /// Start 65535, end 0 (RFC 7296 §3.13.1).
        case opaque
    }

    private enum Shape: CaseIterable {
        case whole, initial, later
    }

    private enum Expected: Equatable {
        case sa(Ports)
        case dropped(DropReason)
    }

    /// Outbound SPI of the SA with remote selectors limited to `ports`.
    private static func spi(_ ports: Ports) -> UInt32 {
        switch ports {
        case .any: return 0xA000_0001
        case .dns: return 0xA000_0002
        case .http: return 0xA000_0003
        case .opaque: return 0xA000_0004
        }
    }

    /// Remote selectors for host B's networks (IPv4 and IPv6), limited to `ports`.
    private static func selectors(_ ports: Ports) -> [TrafficSelector] {
        ["203.0.113.0/24", "2001:db8:b::/48"].map { text in
            let prefix = IPPrefix(text)!
            switch ports {
            case .any:
                return TrafficSelector(prefix: prefix)
            case .dns, .http:
                let port: UInt16 = ports == .dns ? 53 : 80
                return TrafficSelector(
                    startAddress: prefix.range.lowerBound, endAddress: prefix.range.upperBound,
                    ipProtocol: 17, startPort: port, endPort: port)
            case .opaque:
                return TrafficSelector(
                    startAddress: prefix.range.lowerBound, endAddress: prefix.range.upperBound,
                    ipProtocol: 17, startPort: 65535, endPort: 0)
            }
        }
    }

    /// gw1's SA for `ports`; a later `installedAt` puts it first in the outbound order.
    private func state(_ ports: Ports, installedAt: Double) throws -> SAState {
        var sa = Lab.saPair().gw1
        sa.outboundSPI = Self.spi(ports)
        sa.inboundSPI = Self.spi(ports) ^ 0xFFFF
        sa.remoteSelectors = Self.selectors(ports)
        sa.installedAt = installedAt
        let state = try SAState(childSA: sa, workerCount: 1)
        state.sequence.grant(SequenceLease(first: 1, count: 100))
        return state
    }

    /// Builds a UDP packet from host A to host B, port 12345 to 53, in `shape`: whole, the
    /// first fragment (MF set), or a later fragment (offset 64 bytes, no UDP header).
    private func packet(_ shape: Shape, ipv4: Bool) -> [UInt8] {
        let payload = [UInt8](repeating: 5, count: 56)
        if ipv4 {
            var packet = Lab.ipv4UDP(payload: payload)
            switch shape {
            case .whole: packet[6] = 0x00
            case .initial: packet[6] = 0x20
            case .later:
                packet[6] = 0x00
                packet[7] = 8
            }
            Lab.refreshIPv4Checksum(&packet)
            return packet
        }
        let whole = Lab.ipv6UDP(payload: payload)
        guard shape != .whole else { return whole }
        // Fragment header: next header UDP, reserved, offset and M flag, identification.
        let offsetAndFlag: UInt16 = shape == .initial ? 1 : 8 << 3
        let fragmentHeader: [UInt8] = [
            17, 0, UInt8(offsetAndFlag >> 8), UInt8(offsetAndFlag & 0xFF), 0, 0, 0x12, 0x34,
        ]
        var packet = Array(whole[0..<40]) + fragmentHeader + Array(whole[40...])
        packet[6] = 44
        let payloadLength = packet.count - 40
        packet[4] = UInt8(payloadLength >> 8)
        packet[5] = UInt8(payloadLength & 0xFF)
        return packet
    }

    func testOutboundSelection() throws {
        typealias Row = (sas: [Ports], whole: Expected, initial: Expected, later: Expected)
        let table: [Row] = [
            ([.any], .sa(.any), .sa(.any), .sa(.any)),
            ([.dns], .sa(.dns), .sa(.dns), .dropped(.nonInitialFragmentPortLimited)),
            ([.any, .dns], .sa(.dns), .sa(.dns), .sa(.any)),
            ([.dns, .any], .sa(.any), .sa(.any), .sa(.any)),
            ([.opaque], .dropped(.noPolicy), .dropped(.noPolicy), .sa(.opaque)),
            ([.dns, .opaque], .sa(.dns), .sa(.dns), .sa(.opaque)),
            (
                [.http], .dropped(.noPolicy), .dropped(.noPolicy),
                .dropped(.nonInitialFragmentPortLimited)
            ),
        ]
        for ipv4 in [true, false] {
            for (number, row) in table.enumerated() {
                // SAs listed later are installed later, so they are tried first.
                let states = try row.sas.enumerated().map {
                    try state($0.element, installedAt: Double($0.offset))
                }
                let context = DataplaneContext(
                    workerCount: 1, forwarding: Lab.forwarding(gw1: true))
                context.saTable.publish(SATable(states: states))
                let pipeline = Pipeline(worker: 0, context: context)
                let expected = [row.whole, row.initial, row.later]
                for (shape, expectation) in zip(Shape.allCases, expected) {
                    let name = "row \(number) \(ipv4 ? "IPv4" : "IPv6") \(shape)"
                    let wire = MemorySink()
                    let verdict = pipeline.inside(
                        Lab.fromHostA(packet(shape, ipv4: ipv4)), sink: wire)
                    switch expectation {
                    case .sa(let ports):
                        XCTAssertEqual(verdict, .forwarded(frames: 1), name)
                        let spi = wire.frames.first.map {
                            $0.withUnsafeBytes { $0.readUInt32(at: 14 + 20) }
                        }
                        XCTAssertEqual(spi, Self.spi(ports), name)
                    case .dropped(let reason):
                        XCTAssertEqual(verdict, .dropped(reason), name)
                    }
                }
            }
        }
    }

    /// Checks that gw2 accepts whole packets and initial fragments on an SA limited to port
    /// 53, and drops a later fragment under its own reason.
    func testInboundPortLimited() throws {
        var pair = Lab.saPair()
        pair.gw1.remoteSelectors = Self.selectors(.dns)
        pair.gw2.localSelectors = Self.selectors(.dns)
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let builder = try ESPFrameBuilder(sa: pair.gw1)
        for ipv4 in [true, false] {
            let expected: [PacketVerdict] = [
                .forwarded(frames: 1), .forwarded(frames: 1),
                .dropped(.nonInitialFragmentPortLimited),
            ]
            for (index, shape) in Shape.allCases.enumerated() {
                let name = "\(ipv4 ? "IPv4" : "IPv6") \(shape)"
                let esp = builder.esp(
                    payload: packet(shape, ipv4: ipv4), nextHeader: ipv4 ? 4 : 41,
                    sequence: UInt32(1 + index + (ipv4 ? 0 : 3)))
                let frame = Lab.espFrameToGW2(esp)
                XCTAssertEqual(gw2.outside(frame, sink: MemorySink()), expected[index], name)
            }
        }
        XCTAssertEqual(gw2.context.dropTotals()["nonInitialFragmentPortLimited"], 2)
    }
}
