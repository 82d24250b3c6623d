import Foundation
import XCTest

@testable import TaglineDataplane

/// The window's ring of words: slides across word boundaries and past the whole ring, and
/// several threads recording into one window at once.
final class ReplayWindowConcurrencyTests: XCTestCase {
    /// Rows in terms of the width `w` and the ring span `r` (words times 32), recorded in order.
    func testSlideAcrossWords() {
        typealias Row = (
            sequence: (UInt64, UInt64) -> UInt64, expected: ReplayWindow.Verdict, note: String
        )
        let rows: [Row] = [
            ({ _, _ in 31 }, .accept, "last number of the first word"),
            ({ _, _ in 32 }, .accept, "first number of the second word"),
            ({ _, _ in 31 }, .duplicate, "first word kept its bit"),
            ({ _, _ in 33 }, .accept, "second word, next bit"),
            ({ _, _ in 32 }, .duplicate, "second word kept its bit"),
            ({ w, _ in w + 31 }, .accept, "slide by w: 31 is on the left edge"),
            ({ _, _ in 31 }, .tooOld, "31 left the window"),
            ({ _, _ in 32 }, .duplicate, "32 is the left edge and was recorded"),
            ({ w, _ in w + 32 }, .accept, "slide by one more: 32 leaves"),
            ({ _, _ in 32 }, .tooOld, "32 left the window"),
            ({ _, _ in 33 }, .duplicate, "33 is the left edge and was recorded"),
            ({ w, r in w + 32 + r }, .accept, "same word and bit one ring later"),
            ({ w, r in w + 33 + r - w }, .accept, "left edge after the jump: stale word"),
            ({ w, r in w + 31 + r }, .accept, "below it in the same word"),
            ({ w, r in w + 31 + r }, .duplicate, "and again"),
            ({ w, r in w + 32 + r }, .duplicate, "right edge again"),
            ({ w, r in w + 32 + 7 * r + 5 }, .accept, "seven rings ahead"),
            ({ w, r in w + 32 + 7 * r + 5 - w + 1 }, .accept, "left edge, stale for 6 rings"),
            ({ w, r in w + 32 + 7 * r + 4 }, .accept, "just below the top"),
            ({ w, r in w + 32 + 7 * r + 5 - w }, .tooOld, "one past the left edge"),
            ({ w, r in w + 32 + 7 * r + 6 }, .accept, "top moves by one"),
        ]
        for size in [32, 64, 100, 1024, 4096] {
            let window = ReplayWindow(size: size)
            let width = UInt64(size)
            let ring = UInt64(window.wordCount) * ReplayWindow.blockBits
            XCTAssertGreaterThan(ring, width, "size \(size): ring larger than the window")
            for (index, row) in rows.enumerated() {
                let sequence = row.sequence(width, ring)
                let label = "size \(size) row \(index) (\(sequence)): \(row.note)"
                XCTAssertEqual(window.check(sequence), row.expected, "\(label): check")
                XCTAssertEqual(window.record(sequence), row.expected, label)
            }
        }
    }

    /// Every number of a full window, recorded after a jump of exactly one ring, is new.
    func testFullWindowAfterRingJump() {
        let window = ReplayWindow(size: 1024)
        let ring = UInt64(window.wordCount) * ReplayWindow.blockBits
        for sequence in UInt64(1)...1024 { window.record(sequence) }
        let top = 1024 + ring
        XCTAssertEqual(window.record(top), .accept)
        for sequence in (top - 1023)..<top {
            XCTAssertEqual(window.record(sequence), .accept, "sequence \(sequence)")
        }
        XCTAssertEqual(window.record(top - 1024), .tooOld)
    }

    /// Four threads record the same numbers, each in its own shuffled order with every
    /// number twice, through ranges separated by jumps wider than the window. No number may
    /// be accepted twice, and every number in the final window must be accepted once.
    func testThreadsAcceptEachNumberOnce() {
        let size = 256
        let window = ReplayWindow(size: size)
        var numbers = [UInt64]()
        var start: UInt64 = 1
        for _ in 0..<8 {
            numbers += Array(start..<(start + 3000))
            start += 3000 + 700
        }
        let threadCount = 4
        var inputs = [[UInt64]]()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<threadCount {
            // Each number twice, shuffled inside chunks of 32 numbers, so the stream stays near
            // the top.
            var input = [UInt64]()
            for chunkStart in stride(from: 0, to: numbers.count, by: 32) {
                let chunk = numbers[chunkStart..<min(chunkStart + 32, numbers.count)]
                input += (Array(chunk) + Array(chunk)).shuffled(using: &generator)
            }
            inputs.append(input)
        }

        let accepted = PerThread<[UInt64]>(count: threadCount, initial: [])
        let group = DispatchGroup()
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        for index in 0..<threadCount {
            group.enter()
            let input = inputs[index]
            let thread = Thread {
                var mine = [UInt64]()
                ready.signal()
                go.wait()
                for sequence in input where window.record(sequence) == .accept {
                    mine.append(sequence)
                }
                accepted[index] = mine
                group.leave()
            }
            thread.start()
        }
        for _ in 0..<threadCount { ready.wait() }
        for _ in 0..<threadCount { go.signal() }
        group.wait()

        var acceptCount = [UInt64: Int]()
        for list in accepted.values {
            for sequence in list { acceptCount[sequence, default: 0] += 1 }
        }
        let twice = acceptCount.filter { $0.value > 1 }.keys.sorted()
        XCTAssertEqual(twice.count, 0, "accepted more than once: \(twice.prefix(10))")
        let top = numbers.last!
        XCTAssertEqual(window.highest, top)
        for sequence in (top - UInt64(size) + 1)...top {
            XCTAssertEqual(acceptCount[sequence], 1, "sequence \(sequence) in the final window")
        }
        let sent = Set(numbers)
        XCTAssertEqual(acceptCount.keys.filter { !sent.contains($0) }, [], "never sent")
    }

    /// Threads race on the very same numbers in the same order, so most records collide.
    func testThreadsRaceOnSameNumber() {
        let window = ReplayWindow(size: 64)
        let threadCount = 4
        let count = 500_000
        let wins = PerThread<Int>(count: threadCount, initial: 0)
        let duplicates = PerThread<Int>(count: threadCount, initial: 0)
        let group = DispatchGroup()
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        for index in 0..<threadCount {
            group.enter()
            Thread {
                ready.signal()
                go.wait()
                for sequence in UInt64(1)...UInt64(count) {
                    switch window.record(sequence) {
                    case .accept: wins[index] += 1
                    case .duplicate, .tooOld: duplicates[index] += 1
                    case .zero: break
                    }
                }
                group.leave()
            }.start()
        }
        for _ in 0..<threadCount { ready.wait() }
        for _ in 0..<threadCount { go.signal() }
        group.wait()
        // Each number has exactly one winner: the accepts add up to the count.
        XCTAssertEqual(wins.values.reduce(0, +), count)
        XCTAssertEqual(duplicates.values.reduce(0, +), count * (threadCount - 1))
    }
}

/// One value per thread, each written only by its own thread and read after they all joined.
private final class PerThread<Value>: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<Value>

    init(count: Int, initial: Value) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: initial)
    }

    deinit {
        _ = slots.deinitialize()
        slots.deallocate()
    }

    subscript(index: Int) -> Value {
        get { slots[index] }
        set { slots[index] = newValue }
    }

    var values: [Value] { Array(slots) }
}
