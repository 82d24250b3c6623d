import XCTest

@testable import TaglineDataplane

/// The window against a plain model (a set of recorded numbers and the highest one), on
/// random streams of late packets, duplicates and jumps, for sizes the configuration allows.
final class ReplayModelTests: XCTestCase {
    /// Returns the RFC 4303 §3.4.3 verdict on `sequence`, given the numbers recorded so far.
    private struct Model {
        let width: UInt64
        var top: UInt64 = 0
        var recorded = Set<UInt64>()

        func verdict(_ sequence: UInt64) -> ReplayWindow.Verdict {
            if sequence == 0 { return .zero }
            if sequence > top { return .accept }
            if top - sequence >= width { return .tooOld }
            return recorded.contains(sequence) ? .duplicate : .accept
        }

        mutating func record(_ sequence: UInt64) -> ReplayWindow.Verdict {
            let verdict = self.verdict(sequence)
            guard verdict == .accept else { return verdict }
            recorded.insert(sequence)
            top = max(top, sequence)
            recorded = recorded.filter { top - $0 < width }
            return verdict
        }
    }

    /// Jumps a sender can make: a few numbers, a window, a ring, a subspace (2^32) and the
    /// 2^37 after which 32 bits of block number repeat.
    private func jump(width: UInt64, ring: UInt64, random: inout SplitMix64) -> UInt64 {
        let near = UInt64.random(in: 0...3, using: &random)
        switch UInt64.random(in: 0..<6, using: &random) {
        case 0: return width + near
        case 1: return ring * UInt64.random(in: 1...3, using: &random) + near
        case 2: return (1 << 32) + near
        case 3: return (1 << 37) - near
        case 4: return 1 << 37
        default: return UInt64.random(in: 1...(width * 2), using: &random)
        }
    }

    func testRandomStreams() {
        let sizes = [32, 33, 63, 64, 100, 1000, 1024, 4095, 65535, 65536]
        for size in sizes {
            var random = SplitMix64(state: UInt64(size))
            let window = ReplayWindow(size: size, extendedSequenceNumbers: true)
            let width = UInt64(size)
            let ring = UInt64(window.wordCount) * ReplayWindow.blockBits
            var model = Model(width: width)
            var failures = 0
            for step in 0..<20_000 where failures < 5 {
                let sequence: UInt64
                switch UInt64.random(in: 0..<100, using: &random) {
                case 0..<2:
                    sequence = model.top &+ jump(width: width, ring: ring, random: &random)
                case 2..<40:
                    sequence = model.top + 1
                default:
                    // Late packets and duplicates, and some just left of the window.
                    let back = UInt64.random(in: 0...(width + 2), using: &random)
                    sequence = model.top >= back ? model.top - back : 0
                }
                let expected = model.verdict(sequence)
                let checked = window.check(sequence)
                let recorded = window.record(sequence)
                _ = model.record(sequence)
                if checked != expected || recorded != expected {
                    failures += 1
                    XCTFail(
                        "size \(size) step \(step) sequence \(sequence) top \(model.top): "
                            + "check \(checked), record \(recorded), expected \(expected)")
                }
            }
        }
    }

    /// A number 2^37 above a recorded one lands in the same word, and its block number
    /// differs from the recorded one only above the low 32 bits. It was never recorded, so it
    /// is new.
    func testBlockTagRepeat() {
        let window = ReplayWindow(size: 1024, extendedSequenceNumbers: true)
        for sequence in UInt64(1)...10 { XCTAssertEqual(window.record(sequence), .accept) }
        let far: UInt64 = 1 << 37
        XCTAssertEqual(window.check(far + 5), .accept)
        XCTAssertEqual(window.record(far + 5), .accept)
        for sequence in (far + 1)...(far + 10) where sequence != far + 5 {
            XCTAssertEqual(window.record(sequence), .accept, "sequence \(sequence)")
        }
        XCTAssertEqual(window.record(far + 5), .duplicate)
    }

    /// Sizes outside 32...65536 are clamped, so the window is never narrower than RFC 4303
    /// allows nor wider than its ring.
    func testClampedSizes() {
        for (asked, width) in [(0, 32), (-1, 32), (31, 32), (65537, 65536), (Int.max, 65536)] {
            let window = ReplayWindow(size: asked)
            XCTAssertEqual(window.size, width, "size \(asked)")
            let top = UInt64(width) * 3
            XCTAssertEqual(window.record(top), .accept)
            XCTAssertEqual(window.record(top - UInt64(width) + 1), .accept, "size \(asked)")
            XCTAssertEqual(window.record(top - UInt64(width)), .tooOld, "size \(asked)")
        }
    }
}
