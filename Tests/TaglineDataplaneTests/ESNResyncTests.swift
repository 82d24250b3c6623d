import TaglineCore
import XCTest

@testable import TaglineDataplane

/// ESN resynchronization through the in-memory pipeline: gw1's sender jumps 2^32 or more
/// sequence numbers ahead, as after a long loss, and gw2 finds the new high bits again after
/// a run of ICV failures.
final class ESNResyncTests: XCTestCase {
    /// Low 32 bits of the first number after the jump. They lie right of the window after the
    /// first packets, so gw2 infers the old high bits.
    static let lowAfterJump: UInt64 = 0x100

    private func esnGateways(_ encryption: EncryptionAlgorithm, _ integrity: IntegrityAlgorithm?)
        throws -> (gw1: Pipeline, gw1State: SAState, gw2: Pipeline, gw2State: SAState)
    {
        let pair = Lab.esnPair(encryption, integrity)
        let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
        return (gw1, gw1State, gw2, gw2State)
    }

    func testResyncAfterJump() throws {
        for (encryption, integrity) in ESNPipelineTests.transforms {
            for subspaces in UInt64(1)...3 {
                let label = "\(encryption) \(String(describing: integrity)) +\(subspaces)"
                let (gw1, gw1State, gw2, gw2State) = try esnGateways(encryption, integrity)
                let trigger = Int(gw2State.resync.trigger)
                for frame in Lab.encryptFromHostA(3, from: 1, through: gw1, state: gw1State) {
                    XCTAssertEqual(gw2.outside(frame, sink: MemorySink()), .forwarded(frames: 1))
                }

                // The sender skipped `subspaces` times 2^32 numbers.
                let first = subspaces << 32 | ESNResyncTests.lowAfterJump
                let frames = Lab.encryptFromHostA(
                    trigger + 2, from: first, through: gw1, state: gw1State)
                XCTAssertEqual(frames.count, trigger + 2, label)
                guard frames.count == trigger + 2 else { continue }
                for index in 0..<(trigger - 1) {
                    XCTAssertEqual(
                        gw2.outside(frames[index], sink: MemorySink()),
                        .dropped(.integrityFailed), "\(label) packet \(index) before the trigger")
                }
                XCTAssertEqual(gw2State.resync.failureRun, UInt64(trigger - 1), label)

                // The packet that completes the run verifies with the higher bits.
                let last = trigger - 1
                XCTAssertEqual(
                    gw2.outside(frames[last], sink: MemorySink()), .forwarded(frames: 1),
                    "\(label) packet \(last) completes the run")
                XCTAssertEqual(gw2State.resync.resynchronizations, 1, label)
                XCTAssertEqual(gw2State.resync.failureRun, 0, label)
                XCTAssertEqual(
                    gw2State.highestInboundSequence, first + UInt64(last), "\(label): window")

                // The next packets infer the new high bits directly, and replays still fail.
                for index in [trigger, trigger + 1] {
                    XCTAssertEqual(
                        gw2.outside(frames[index], sink: MemorySink()), .forwarded(frames: 1),
                        "\(label) packet \(index) after the resync")
                }
                XCTAssertEqual(
                    gw2.outside(frames[last], sink: MemorySink()), .dropped(.replay), label)
                XCTAssertEqual(gw2State.resync.resynchronizations, 1, label)
                XCTAssertEqual(gw2State.counters.value(.verifyFailed), UInt64(trigger - 1), label)
                XCTAssertEqual(gw2State.counters.value(.decaps), 6, label)
            }
        }
    }

    /// A jump past the tries of one packet never resynchronizes. The packet that completes
    /// each run of `trigger` failures costs the bounded tries and counts under
    /// `resyncFailed`, and the others fail once.
    func testJumpBeyondTriesStaysDropped() throws {
        let (gw1, gw1State, gw2, gw2State) = try esnGateways(.aesGCM128, nil)
        let trigger = Int(gw2State.resync.trigger)
        let tries = UInt64(gw2State.resync.tries)
        _ = Lab.encryptFromHostA(1, from: 1, through: gw1, state: gw1State).map {
            gw2.outside($0, sink: MemorySink())
        }
        let first = (tries + 1) << 32 | ESNResyncTests.lowAfterJump
        let frames = Lab.encryptFromHostA(
            2 * trigger + 3, from: first, through: gw1, state: gw1State)
        var verdicts = [PacketVerdict]()
        for frame in frames { verdicts.append(gw2.outside(frame, sink: MemorySink())) }
        XCTAssertEqual(
            verdicts.filter { $0 == .dropped(.integrityFailed) }.count, 2 * trigger + 1)
        XCTAssertEqual(verdicts[trigger - 1], .dropped(.resyncFailed))
        XCTAssertEqual(verdicts[2 * trigger - 1], .dropped(.resyncFailed))
        XCTAssertEqual(gw2State.resync.resynchronizations, 0)
        XCTAssertEqual(gw2State.highestInboundSequence, 1)
        XCTAssertEqual(gw2.drops.value(.resyncFailed), 2)
    }

    /// A valid packet ends the run, so failures spread between valid packets never trigger.
    func testValidPacketEndsRun() throws {
        let (gw1, gw1State, gw2, gw2State) = try esnGateways(.aesCBC128, .hmacSHA256_128)
        let trigger = Int(gw2State.resync.trigger)
        let good = Lab.encryptFromHostA(2, from: 1, through: gw1, state: gw1State)
        let jumped = Lab.encryptFromHostA(
            trigger, from: 1 << 32 | 0x100, through: gw1, state: gw1State)
        XCTAssertEqual(gw2.outside(good[0], sink: MemorySink()), .forwarded(frames: 1))
        for frame in jumped.prefix(trigger - 1) {
            XCTAssertEqual(gw2.outside(frame, sink: MemorySink()), .dropped(.integrityFailed))
        }
        XCTAssertEqual(gw2.outside(good[1], sink: MemorySink()), .forwarded(frames: 1))
        XCTAssertEqual(gw2State.resync.failureRun, 0)
        XCTAssertEqual(
            gw2.outside(jumped[trigger - 1], sink: MemorySink()), .dropped(.integrityFailed))
        XCTAssertEqual(gw2State.resync.resynchronizations, 0)
    }

    /// Without ESN the high bits are 0 by definition, so a run of failures retries nothing.
    func testWithoutESNNoRetry() throws {
        let pair = Lab.saPair(encryption: .aesGCM128, integrity: nil)
        let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let trigger = Int(gw2State.resync.trigger)
        for (index, frame) in Lab.encryptFromHostA(
            trigger + 2, from: 1, through: gw1, state: gw1State
        )
        .enumerated() {
            // The last byte of the frame is the last byte of the AEAD tag.
            var forged = frame
            forged[forged.count - 1] ^= 0x01
            XCTAssertEqual(
                gw2.outside(forged, sink: MemorySink()), .dropped(.integrityFailed),
                "packet \(index)")
        }
        XCTAssertEqual(gw2State.resync.failureRun, UInt64(trigger + 2))
        XCTAssertEqual(gw2.drops.value(.resyncFailed), 0)
    }
}
