import TaglineCore
import XCTest

@testable import TaglineDataplane

/// The in-memory path: slots reused burst after burst, a full sink counted as a full ring,
/// and a round trip between two memory gateways.
final class MemoryPipelineTests: XCTestCase {
    func testRoundTrip() throws {
        let pair = Lab.saPair(encryption: .aesGCM128, integrity: nil)
        let gw1 = try MemoryPipeline(
            sa: pair.gw1, bindings: [TaggingRulesTests.bindingHostA],
            forwarding: Lab.forwarding(gw1: true), slotCount: 4)
        let gw2 = try MemoryPipeline(
            sa: pair.gw2, forwarding: Lab.forwarding(gw1: false), slotCount: 4)
        let packets = (0..<3).map { Lab.ipv4UDP(payload: [UInt8](repeating: UInt8($0), count: 40)) }
        let frames = packets.map(Lab.fromHostA)

        for _ in 0..<2 {
            let sent = frames.withUnsafeBufferPointer { list in
                gw1.runInside(count: list.count) { list[$0].withUnsafeBytes { $0 } }
            }
            XCTAssertEqual(sent, 3)
            XCTAssertEqual(gw1.outside.count, 3)
            let delivered = gw2.runOutside(count: gw1.outside.count) { gw1.outside.frame($0) }
            XCTAssertEqual(delivered, 3)
            for index in 0..<3 {
                XCTAssertEqual(
                    Array(gw2.inside.bytes(index).dropFirst(Ethernet.headerSize)),
                    Lab.forwarded(packets[index], hops: 2))
            }
        }
        XCTAssertEqual(gw1.state.counters.value(.tagged), 6)
        XCTAssertEqual(gw2.state.counters.value(.untagged), 6)
    }

    func testFullSink() throws {
        let pair = Lab.saPair(encryption: .aesGCM128, integrity: nil)
        let gw1 = try MemoryPipeline(
            sa: pair.gw1, forwarding: Lab.forwarding(gw1: true), slotCount: 2)
        let frame = Lab.fromHostA(Lab.ipv4UDP())
        let sent = frame.withUnsafeBytes { bytes in gw1.runInside(count: 3) { _ in bytes } }
        XCTAssertEqual(sent, 2)
        XCTAssertEqual(gw1.context.drops[0].value(.txRingFull), 1)
    }

    func testCounterRows() {
        let counters = SACounterBlock(workerCount: 2)
        counters.add(.encaps, worker: 0)
        counters.add(.encaps, 2, worker: 1)
        counters.add(.encaps, 4)
        counters.add(.decaps, worker: 1)
        XCTAssertEqual(counters.value(.encaps), 7)
        XCTAssertEqual(counters.snapshot().decaps, 1)
    }
}
