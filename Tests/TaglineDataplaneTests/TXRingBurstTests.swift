import Foundation
import XCTest

@testable import TaglineDataplane

/// Bursts larger than a TX ring's slot count, on a real veth, without a flush between frames.
/// One RX block of small frames makes such a burst.
final class TXRingBurstTests: XCTestCase {
    private var lab: NamespaceLab!

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
            // Broadcast, ethertype 0x88B5 (local experimental), zero padding to 60 bytes.
            var frame = [UInt8](repeating: 0xFF, count: 6) + [UInt8](repeating: 0x02, count: 6)
            frame += [0x88, 0xB5] + [UInt8](repeating: 0, count: 46)
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
}
