// libFuzzer target for the dataplane's inbound path. Each input is one
// Ethernet frame as the outside interface's RX ring delivers it.
//
// The frame goes to `CMDHeader.parse` (as if it were a decrypted ESP payload)
// and to `Pipeline.processOutside` of a gateway with three inbound SAs that
// use ENCR_NULL without integrity. Without an ICV, a mutated frame is not
// rejected by the integrity check, so the fuzzer reaches the trailer, CMD and
// inner-packet checks, the tagging rules and the frame sent to the inside
// interface. Every input gets a new pipeline, so the replay window and the
// fragment reassembler start empty and a crashing input repeats alone.

import Glibc
import TaglineCore

@testable import TaglineDataplane

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataplaneInbound(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let frame = UnsafeRawBufferPointer(start: data, count: size)
    if let header = try? CMDHeader.parse(frame) {
        if header.headerLength > size || header.headerLength < CMDHeader.size {
            fatalError("CMD header length \(header.headerLength) outside 8...\(size)")
        }
    }

    let pipeline = FuzzGateway.makePipeline()
    let sink = DiscardingSink()
    let verdict = pipeline.processOutside(frame, sink: sink)
    if case .forwarded(let frames) = verdict, frames != sink.committed {
        fatalError(
            "verdict reports \(frames) forwarded frames, but the sink committed \(sink.committed)")
    }
    // Set TAGLINE_FUZZ_PRINT=1 to see what the pipeline did with each input.
    if getenv("TAGLINE_FUZZ_PRINT") != nil { print("verdict: \(verdict)") }
    return 0
}

/// A TX ring stand-in that checks each committed frame lies in the reserved buffer.
final class DiscardingSink: FrameSink {
    static let frameSize = 4096
    private let buffer = UnsafeMutableRawBufferPointer.allocate(
        byteCount: DiscardingSink.frameSize, alignment: 16)
    private(set) var committed = 0

    deinit { buffer.deallocate() }

    func reserveFrame() -> UnsafeMutableRawBufferPointer? { buffer }

    func commitFrame(offset: Int, length: Int) {
        if offset < 0 || length < 0 || offset + length > buffer.count {
            fatalError(
                "frame at \(offset) length \(length) outside the \(buffer.count)-byte buffer")
        }
        committed += 1
    }
}

/// The gateway the frames arrive at: outside 198.51.100.1 and 2001:db8:100::1,
/// inside 192.0.2.1 and 2001:db8:a::1, peer 198.51.100.2 and 2001:db8:100::2.
enum FuzzGateway {
    static let outsideMAC = MACAddress(0x0200_0000_1001)
    static let peerMAC = MACAddress(0x0200_0000_1002)
    static let insideMAC = MACAddress(0x0200_0000_0a01)
    static let hostMAC = MACAddress(0x0200_0000_0a02)

    /// Inbound SPIs: ESP in IPv4, ESP in UDP 4500 over IPv4, ESP in IPv6.
    static let spiIPv4: UInt32 = 0x1000_0001
    static let spiUDP: UInt32 = 0x1000_0002
    static let spiIPv6: UInt32 = 0x1000_0003

    static let local4 = IPAddress("198.51.100.1")!
    static let peer4 = IPAddress("198.51.100.2")!
    static let local6 = IPAddress("2001:db8:100::1")!
    static let peer6 = IPAddress("2001:db8:100::2")!

    static func makePipeline() -> Pipeline {
        let context = DataplaneContext(workerCount: 1, forwarding: forwarding())
        let states = [
            state(spiIPv4, local: local4, remote: peer4, udp: false),
            state(spiUDP, local: local4, remote: peer4, udp: true),
            state(spiIPv6, local: local6, remote: peer6, udp: false),
        ]
        context.saTable.publish(SATable(states: states))
        context.bindingTable.publish(
            BindingTable(bindings: [
                SGTBinding(prefix: IPPrefix("192.0.2.0/24")!, sgt: SGT(100)!, source: .config),
                SGTBinding(prefix: IPPrefix("2001:db8:a::/48")!, sgt: SGT(200)!, source: .config),
            ]))
        context.debugEnabled = true
        return Pipeline(worker: 0, context: context)
    }

    private static func state(_ spi: UInt32, local: IPAddress, remote: IPAddress, udp: Bool)
        -> SAState
    {
        let sa = ChildSA(
            inboundSPI: spi, outboundSPI: spi | 0x2000_0000, ikeSAName: "fuzz",
            localAddress: local, remoteAddress: remote,
            udpEncapsulation: udp ? UDPEncapsulation() : nil,
            localSelectors: [
                TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!),
                TrafficSelector(prefix: IPPrefix("2001:db8:a::/48")!),
            ],
            remoteSelectors: [
                TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!),
                TrafficSelector(prefix: IPPrefix("2001:db8:b::/48")!),
            ],
            encryption: .null, integrity: nil,
            inboundKeys: ChildSAKeys(encryptionKey: [], integrityKey: []),
            outboundKeys: ChildSAKeys(encryptionKey: [], integrityKey: []),
            taggingNegotiated: true, cryptoMapName: "cmap", interfaceName: "outside",
            transformDescription: "esp-null", installedAt: 0)
        do {
            return try SAState(childSA: sa, workerCount: 1)
        } catch {
            fatalError("creating the fuzz SA failed: \(error)")
        }
    }

    private static func forwarding() -> ForwardingTable {
        let inside = DataplaneInterface(
            name: "inside", index: 1, mac: insideMAC, mtu: 1500,
            addresses: [IPAddress("192.0.2.1")!, IPAddress("2001:db8:a::1")!])
        let outside = DataplaneInterface(
            name: "outside", index: 2, mac: outsideMAC, mtu: 1500, addresses: [local4, local6])
        var routes = PrefixTable<Route>()
        routes.insert(IPPrefix("192.0.2.0/24")!, Route(interfaceIndex: 1, gateway: nil))
        routes.insert(IPPrefix("2001:db8:a::/48")!, Route(interfaceIndex: 1, gateway: nil))
        routes.insert(IPPrefix("198.51.100.0/24")!, Route(interfaceIndex: 2, gateway: nil))
        routes.insert(IPPrefix("2001:db8:100::/64")!, Route(interfaceIndex: 2, gateway: nil))
        let neighbours: [NeighbourKey: MACAddress] = [
            NeighbourKey(interfaceIndex: 1, address: IPAddress("192.0.2.2")!): hostMAC,
            NeighbourKey(interfaceIndex: 1, address: IPAddress("2001:db8:a::2")!): hostMAC,
            NeighbourKey(interfaceIndex: 2, address: peer4): peerMAC,
            NeighbourKey(interfaceIndex: 2, address: peer6): peerMAC,
        ]
        return ForwardingTable(
            inside: inside, outside: outside, routes: routes, neighbours: neighbours)
    }
}
