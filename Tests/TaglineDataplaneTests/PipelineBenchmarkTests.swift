import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Packets per second of the pipeline on buffers in memory: encapsulation and
/// decapsulation of 1400-byte packets with a CMD. The numbers depend on the build
/// configuration and the machine, so the test prints them and checks only that every
/// packet made the round trip.
final class PipelineBenchmarkTests: XCTestCase {
    func testRoundTripRate() throws {
        let count = 5000
        var lines: [String] = []
        for (encryption, integrity) in [
            (EncryptionAlgorithm.aesGCM128, IntegrityAlgorithm?.none),
            (.aesCBC128, .hmacSHA1_96),
        ] {
            let pair = Lab.saPair(encryption: encryption, integrity: integrity)
            let (gw1, _) = try Lab.gateway(
                gw1: true, sa: pair.gw1,
                bindings: [TaggingRulesTests.bindingHostA])
            let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
            gw1.context.debugEnabled = false
            let frame = Lab.fromHostA(Lab.ipv4UDP(payload: [UInt8](repeating: 7, count: 1372)))
            let wire = MemorySink(capacity: Int.max)
            let delivered = MemorySink(capacity: Int.max)
            // Lab.gateway leases 1000 numbers, and this run needs more.
            gw1.context.saTable.current.outbound[0].sequence.grant(
                SequenceLease(first: 1001, count: UInt64(count)))

            let start = monotonicNanoseconds()
            for _ in 0..<count { _ = gw1.inside(frame, sink: wire) }
            let encapsulated = monotonicNanoseconds()
            for esp in wire.frames { _ = gw2.outside(esp, sink: delivered) }
            let decapsulated = monotonicNanoseconds()

            XCTAssertEqual(wire.frames.count, count)
            XCTAssertEqual(delivered.frames.count, count)
            let encapsulationRate = Double(count) / (Double(encapsulated - start) / 1e9)
            let decapsulationRate = Double(count) / (Double(decapsulated - encapsulated) / 1e9)
            lines.append(
                "\(encryption.rawValue) \(integrity?.rawValue ?? "-"): "
                    + "encapsulation \(Int(encapsulationRate)) packets/s, "
                    + "decapsulation \(Int(decapsulationRate)) packets/s")
        }
        print(lines.joined(separator: "\n"))
    }
}
