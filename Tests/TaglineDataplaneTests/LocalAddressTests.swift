import TaglineCore
import XCTest

@testable import TaglineDataplane

final class LocalAddressTests: XCTestCase {
    /// Traffic from host A to any of gw1's own addresses is the kernel's, IPv4 and IPv6,
    /// while traffic to host B goes into the tunnel.
    func testInsideToGatewayPasses() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let sink = MemorySink()
        let own4 = [Lab.gw1Inside, Lab.gw1Outside]
        for address in own4 {
            let frame = Lab.fromHostA(Lab.ipv4UDP(destination: address))
            XCTAssertEqual(gw1.inside(frame, sink: sink), .passed, "\(address)")
        }
        let own6 = [IPAddress("2001:db8:a::1")!, Lab.gw1Outside6]
        for address in own6 {
            let frame = Lab.fromHostA(Lab.ipv6UDP(destination: address))
            XCTAssertEqual(gw1.inside(frame, sink: sink), .passed, "\(address)")
        }
        XCTAssertEqual(sink.frames.count, 0)
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: sink), .forwarded(frames: 1))
    }

    /// ESP addressed to an address that is not gw1's own is left to the kernel, unopened.
    func testOutsideToOtherAddressPasses() throws {
        let pair = Lab.saPair()
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        var frame = builder.frame(
            payload: Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA), nextHeader: 4,
            sequence: 1)
        // Outer destination 198.51.100.1 becomes 198.51.100.9; the header checksum is not
        // checked on this path.
        let destinationOffset = Ethernet.headerSize + IPv4.destinationOffset
        XCTAssertEqual(
            Array(frame[destinationOffset..<destinationOffset + 4]), Lab.gw1Outside.bytes)
        frame[destinationOffset + 3] = 9
        XCTAssertEqual(gw1.outside(frame, sink: MemorySink()), .passed)
        XCTAssertEqual(state.counters.snapshot().decaps, 0)
    }
}
