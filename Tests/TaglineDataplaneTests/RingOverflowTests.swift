import Foundation
import XCTest

@testable import TaglineDataplane

/// Rings that overflow, on a real veth. A burst larger than a TX ring's slot count, without
/// a flush between frames, must all be sent (one RX block of small frames makes such a
/// burst). Frames the kernel drops because no reader empties an RX ring must be counted from
/// PACKET_STATISTICS, and the totals must survive the reset that reading them causes.
final class RingOverflowTests: XCTestCase {
    private var lab: NamespaceLab!

    /// Broadcast, ethertype 0x88B5 (local experimental), zero padding to 60 bytes.
    private static let frame =
        [UInt8](repeating: 0xFF, count: 6) + [UInt8](repeating: 0x02, count: 6) + [0x88, 0xB5]
        + [UInt8](repeating: 0, count: 46)

    override func setUpWithError() throws {
        guard getuid() == 0 else {
            throw XCTSkip("creating network namespaces needs root; run the tests as root")
        }
        lab = NamespaceLab()
        try lab.create()
    }

    override func tearDown() {
        lab?.destroy()
    }

    func testBurstOverRingSize() throws {
        let ringSlots = 512
        let frames = ringSlots * 4
        let (sent, rejected, unavailable) = try lab.inNamespace(lab.gateway1) {
            let ring = try TXRing(interface: InterfaceInfo.read("g1o"), frameCount: ringSlots)
            let frame = RingOverflowTests.frame
            var unavailable = 0
            for _ in 0..<frames {
                guard let slot = ring.reserveFrame() else {
                    unavailable += 1
                    continue
                }
                slot.copyBytes(from: frame)
                ring.commitFrame(offset: 0, length: frame.count)
            }
            ring.flush()
            return (ring.sentFrames, ring.rejectedFrames, unavailable)
        }
        XCTAssertEqual(unavailable, 0, "reserveFrame returned no slot")
        XCTAssertEqual(sent, UInt64(frames))
        XCTAssertEqual(rejected, 0)
    }

    func testFullRingDropsAreCounted() throws {
        var configuration = RXRingConfiguration()
        configuration.blockSize = 1 << 12
        configuration.blockCount = 2
        let ring = try lab.inNamespace(lab.gateway1) {
            try RXRing(
                interface: InterfaceInfo.read("g1o"), fanoutGroup: 0x7a01,
                configuration: configuration)
        }
        XCTAssertEqual(ring.collectStatistics().drops, 0)

        // 400 broadcast frames from gw2 into two 4 KiB blocks that are never emptied.
        let frames = 400
        try lab.inNamespace(lab.gateway2) {
            let sender = try TXRing(interface: InterfaceInfo.read("g2o"), frameCount: 512)
            let frame = RingOverflowTests.frame
            for _ in 0..<frames {
                guard let slot = sender.reserveFrame() else { continue }
                slot.copyBytes(from: frame)
                sender.commitFrame(offset: 0, length: frame.count)
            }
            sender.flush()
        }

        let first = ring.collectStatistics()
        XCTAssertGreaterThan(first.drops, 0)
        XCTAssertLessThan(first.drops, UInt64(frames))
        // A second read adds nothing new, and keeps what the first one took.
        XCTAssertEqual(ring.collectStatistics().drops, first.drops)
    }
}
