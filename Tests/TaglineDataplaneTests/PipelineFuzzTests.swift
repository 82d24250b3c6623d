import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Feeds mutated and truncated frames to both packet paths and the CMD parser. The
/// bounds assertions of the byte readers trap in debug builds, so an out-of-bounds read
/// fails the run as a crash would.
final class PipelineFuzzTests: XCTestCase {
    /// A small deterministic generator (SplitMix64), so a failure repeats.
    private struct SplitMix64 {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    }

    private func mutate(_ frame: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var out = frame
        switch random.below(4) {
        case 0:
            // Flip a few bytes anywhere, headers included.
            for _ in 0...random.below(4) where !out.isEmpty {
                out[random.below(out.count)] = UInt8(truncatingIfNeeded: random.next())
            }
        case 1:
            out = Array(out.prefix(random.below(out.count + 1)))
        case 2:
            // Length and header fields set to extremes, top bit included.
            let index = random.below(min(out.count, 64))
            if index < out.count { out[index] = [0x00, 0x80, 0xFF][random.below(3)] }
        default:
            out += (0..<random.below(40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        return out
    }

    func testMutatedOutsideFrames() throws {
        var random = SplitMix64(state: 1)
        for udp in [false, true] {
            for outerIPv6 in [false, true] {
                let pair = Lab.saPair(
                    encryption: .null, integrity: .hmacSHA1_96, udp: udp,
                    outerIPv6: outerIPv6)
                let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
                let builder = try ESPFrameBuilder(sa: pair.gw2)
                let seed = builder.frame(
                    payload: CMDInESPTests.m1 + CMDInESPTests.inner, nextHeader: 253, sequence: 1,
                    hopByHop: outerIPv6)
                let sink = MemorySink(capacity: 100_000)
                for _ in 0..<3000 {
                    let verdict = gw1.outside(mutate(seed, &random), sink: sink)
                    XCTAssertNotEqual(verdict, .forwarded(frames: 0))
                }
            }
        }
    }

    func testMutatedInsideFrames() throws {
        var random = SplitMix64(state: 2)
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(
            gw1: true, sa: pair.gw1,
            bindings: [TaggingRulesTests.bindingHostA])
        let sink = MemorySink(capacity: 100_000)
        for seed in [Lab.fromHostA(Lab.ipv4UDP()), Lab.fromHostA(Lab.ipv6UDP())] {
            for _ in 0..<3000 {
                let offload =
                    random.below(3) == 0
                    ? OffloadHeader(
                        needsChecksum: true, checksumStart: random.below(120),
                        checksumOffset: random.below(40), gsoType: UInt8(random.below(5)),
                        gsoSize: random.below(3000))
                    : .none
                _ = gw1.inside(
                    mutate(seed, &random), offload: offload, sink: sink,
                    replies: MemorySink(capacity: 10))
            }
        }
    }

    func testRandomCMDHeaders() {
        var random = SplitMix64(state: 3)
        for _ in 0..<20_000 {
            let bytes = (0..<random.below(24)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            bytes.withUnsafeBytes { buffer in
                do throws(CMDError) {
                    let header = try CMDHeader.parse(buffer)
                    XCTAssertLessThanOrEqual(header.headerLength, buffer.count)
                    XCTAssertNotEqual(header.sgt?.value, 0xFFFF)
                } catch {
                    XCTAssertFalse(error.description.isEmpty)
                }
            }
        }
    }
}
