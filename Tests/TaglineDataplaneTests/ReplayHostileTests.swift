import Foundation
import TaglineCore
import XCTest

@testable import TaglineDataplane

/// A hostile peer against the inbound replay checks of an ESN SA: floods of forged packets,
/// replays around a resynchronization, and several workers receiving one SA at once.
final class ReplayHostileTests: XCTestCase {
    /// Returns `frame` with the last byte of its ICV flipped.
    private func forged(_ frame: [UInt8]) -> [UInt8] {
        var copy = frame
        copy[copy.count - 1] ^= 0x01
        return copy
    }

    /// Forged packets retry the higher high bits only once per run of `trigger` failures, so
    /// a flood costs about one ICV per packet, and it moves nothing.
    func testForgedFloodRetriesBounded() throws {
        for (encryption, integrity) in ESNPipelineTests.transforms {
            let label = "\(encryption) \(String(describing: integrity))"
            let pair = Lab.esnPair(encryption, integrity)
            let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
            let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
            let trigger = Int(gw2State.resync.trigger)
            let runs = 10
            let frames = Lab.encryptFromHostA(
                runs * trigger + 2, from: 1, through: gw1, state: gw1State)
            XCTAssertEqual(gw2.outside(frames[0], sink: MemorySink()), .forwarded(frames: 1))

            for frame in frames[2...] {
                _ = gw2.outside(forged(frame), sink: MemorySink())
            }
            XCTAssertEqual(gw2.drops.value(.resyncFailed), UInt64(runs), label)
            XCTAssertEqual(
                gw2.drops.value(.integrityFailed), UInt64(runs * (trigger - 1)), label)
            XCTAssertEqual(gw2State.resync.resynchronizations, 0, label)
            XCTAssertEqual(gw2State.highestInboundSequence, 1, label)

            // Valid traffic goes on, and the replay of the first packet still fails.
            XCTAssertEqual(
                gw2.outside(frames[1], sink: MemorySink()), .forwarded(frames: 1), label)
            XCTAssertEqual(gw2State.resync.failureRun, 0, label)
            XCTAssertEqual(gw2.outside(frames[0], sink: MemorySink()), .dropped(.replay), label)
            XCTAssertEqual(
                gw2.outside(frames.last!, sink: MemorySink()), .forwarded(frames: 1), label)
        }
    }

    /// Packets the sender sent before its jump, replayed after the resynchronization, fail
    /// under the new high bits and never move the window back or forward.
    func testReplayBeforeJumpAfterResync() throws {
        let pair = Lab.esnPair(.aesCBC128, .hmacSHA256_128)
        let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let trigger = Int(gw2State.resync.trigger)
        let early = Lab.encryptFromHostA(20, from: 1, through: gw1, state: gw1State)
        for frame in early.prefix(10) {
            XCTAssertEqual(gw2.outside(frame, sink: MemorySink()), .forwarded(frames: 1))
        }
        let first: UInt64 = 1 << 32 | 0x100
        let jumped = Lab.encryptFromHostA(trigger + 1, from: first, through: gw1, state: gw1State)
        for frame in jumped { _ = gw2.outside(frame, sink: MemorySink()) }
        XCTAssertEqual(gw2State.resync.resynchronizations, 1)
        let top = gw2State.highestInboundSequence
        XCTAssertEqual(top, first + UInt64(trigger))

        // Replays of delivered packets and late deliveries of undelivered ones alike.
        for (index, frame) in early.enumerated() {
            XCTAssertNotEqual(
                gw2.outside(frame, sink: MemorySink()), .forwarded(frames: 1), "early \(index)")
        }
        XCTAssertEqual(gw2State.highestInboundSequence, top)
        XCTAssertEqual(gw2State.resync.resynchronizations, 1)
        for (index, frame) in jumped.enumerated() where index >= trigger - 1 {
            XCTAssertEqual(
                gw2.outside(frame, sink: MemorySink()), .dropped(.replay), "jumped \(index)")
        }
    }

    /// Four workers receive the same ESN SA across the wrap of the low 32 bits, each given
    /// every valid frame and a forged copy of it in its own order. Each valid frame is
    /// forwarded exactly once, and no forged one is.
    func testWorkersShareSA() throws {
        let workers = 4
        let pair = Lab.esnPair(.aesGCM128, nil)
        let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let frames = Lab.encryptFromHostA(3000, from: 0xFFFF_F000, through: gw1, state: gw1State)
        XCTAssertEqual(frames.count, 3000)

        let context = DataplaneContext(workerCount: workers, forwarding: Lab.forwarding(gw1: false))
        let state = try SAState(childSA: pair.gw2, workerCount: workers)
        context.saTable.publish(SATable(states: [state]))
        var inputs = [[(frame: [UInt8], valid: Bool)]]()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<workers {
            // Shuffled in chunks of 64, so every worker stays near the top of the window.
            var input = [(frame: [UInt8], valid: Bool)]()
            for start in stride(from: 0, to: frames.count, by: 64) {
                let chunk = frames[start..<min(start + 64, frames.count)]
                let mixed = chunk.map { ($0, true) } + chunk.map { (forged($0), false) }
                input += mixed.shuffled(using: &generator)
            }
            inputs.append(input)
        }

        let forwarded = Results(count: workers)
        let group = DispatchGroup()
        for worker in 0..<workers {
            group.enter()
            let pipeline = Pipeline(worker: worker, context: context)
            let input = inputs[worker]
            Thread {
                context.epochs.enter(worker: worker)
                let tables = context.currentTables()
                var valid = 0
                var forgedCount = 0
                for (frame, isValid) in input {
                    let sink = MemorySink()
                    let verdict = frame.withUnsafeBytes {
                        pipeline.processOutside(
                            $0, tables: tables, sink: sink, replySink: nil as MemorySink?)
                    }
                    if verdict == .forwarded(frames: 1) {
                        if isValid { valid += 1 } else { forgedCount += 1 }
                    }
                }
                context.epochs.leave(worker: worker)
                forwarded.set(worker, valid: valid, forged: forgedCount)
                group.leave()
            }.start()
        }
        group.wait()

        XCTAssertEqual(forwarded.forged, 0)
        XCTAssertEqual(forwarded.valid, frames.count)
        XCTAssertEqual(state.counters.value(.decaps), UInt64(frames.count))
        XCTAssertEqual(state.highestInboundSequence, 0xFFFF_F000 + 2999)
        XCTAssertEqual(state.resync.resynchronizations, 0)
    }
}

/// Forwarded counts per worker thread, each slot written by its own thread before it joins.
private final class Results: @unchecked Sendable {
    private var slots: [(valid: Int, forged: Int)]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: (0, 0), count: count) }

    func set(_ worker: Int, valid: Int, forged: Int) {
        lock.lock()
        slots[worker] = (valid, forged)
        lock.unlock()
    }

    var valid: Int { slots.reduce(0) { $0 + $1.valid } }
    var forged: Int { slots.reduce(0) { $0 + $1.forged } }
}
