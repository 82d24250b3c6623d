import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Extended sequence numbers through the in-memory pipeline of two gateways: gw1 and gw2
/// each send across the 2^32 boundary, the other side infers the high 32 bits, and
/// replayed or forged packets are dropped.
final class ESNPipelineTests: XCTestCase {
    static let transforms: [(EncryptionAlgorithm, IntegrityAlgorithm?)] = [
        (.aesCBC128, .hmacSHA256_128),
        (.aesGCM128, nil),
        (.chacha20Poly1305, nil),
        (.null, .hmacSHA1_96),
    ]

    /// First sequence number each sender uses: four packets before the wrap, four after.
    static let firstSequence: UInt64 = 0xFFFF_FFFC

    /// Wraps `packet` in a frame from host B to gw2's inside interface.
    private func fromHostB(_ packet: [UInt8]) -> [UInt8] {
        Lab.ethernet(
            destination: Lab.gw2InsideMAC, source: Lab.hostBMAC, type: 0x0800, packet)
    }

    /// Encrypts `count` copies of `frame` through `sender` and returns the ESP frames in order.
    private func send(
        _ count: Int, through sender: Pipeline, frame: [UInt8], label: String
    ) -> [[UInt8]] {
        let wire = MemorySink()
        for index in 0..<count {
            XCTAssertEqual(
                sender.inside(frame, sink: wire), .forwarded(frames: 1), "\(label) send \(index)")
        }
        return wire.frames
    }

    /// Reads the Sequence Number field of an ESP frame, which follows the Ethernet (14 bytes)
    /// and IPv4 (20 bytes) headers and the SPI.
    private func wireSequence(_ frame: [UInt8]) -> UInt32 {
        frame[38..<42].reduce(0) { $0 << 8 | UInt32($1) }
    }

    func testWrapBothWays() throws {
        for (encryption, integrity) in ESNPipelineTests.transforms {
            let label = "\(encryption) \(String(describing: integrity))"
            let pair = Lab.esnPair(encryption, integrity)
            let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
            let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
            for state in [gw1State, gw2State] {
                state.sequence.grant(SequenceLease(first: ESNPipelineTests.firstSequence, count: 8))
            }
            let directions = [
                (
                    "gw1 to gw2", gw1, gw2, gw2State,
                    Lab.fromHostA(Lab.ipv4UDP())
                ),
                (
                    "gw2 to gw1", gw2, gw1, gw1State,
                    fromHostB(Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA))
                ),
            ]
            for (direction, sender, receiver, receiverState, clear) in directions {
                let name = "\(label) \(direction)"
                let frames = send(8, through: sender, frame: clear, label: name)
                XCTAssertEqual(frames.count, 8, name)
                guard frames.count == 8 else { continue }

                // Only the low 32 bits travel.
                XCTAssertEqual(
                    frames.map(wireSequence),
                    [0xFFFF_FFFC, 0xFFFF_FFFD, 0xFFFF_FFFE, 0xFFFF_FFFF, 0, 1, 2, 3], name)

                // Two packets from before the wrap arrive after two from after it.
                let delivered = MemorySink()
                for index in [0, 1, 4, 5, 2, 3, 6, 7] {
                    XCTAssertEqual(
                        receiver.outside(frames[index], sink: delivered), .forwarded(frames: 1),
                        "\(name) packet \(index)")
                }
                XCTAssertEqual(delivered.frames.count, 8, name)
                XCTAssertEqual(receiverState.highestInboundSequence, 0x1_0000_0003, name)

                // Replays from both sides of the wrap.
                for index in [2, 5, 7] {
                    XCTAssertEqual(
                        receiver.outside(frames[index], sink: delivered), .dropped(.replay),
                        "\(name) replay \(index)")
                }
                XCTAssertEqual(receiverState.counters.value(.replayFailed), 3, name)
                XCTAssertEqual(receiverState.counters.value(.decaps), 8, name)
                XCTAssertEqual(delivered.frames.count, 8, name)
            }
        }
    }

    func testWrongHighBitsFailICV() throws {
        for (encryption, integrity) in ESNPipelineTests.transforms {
            let label = "\(encryption) \(String(describing: integrity))"
            let pair = Lab.esnPair(encryption, integrity)
            let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
            let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
            let clear = Lab.fromHostA(Lab.ipv4UDP())
            gw1State.sequence.grant(SequenceLease(first: 0xFFFF_FFFF, count: 3))
            for (index, frame) in send(3, through: gw1, frame: clear, label: label).enumerated() {
                XCTAssertEqual(
                    gw2.outside(frame, sink: MemorySink()), .forwarded(frames: 1),
                    "\(label) packet \(index)")
            }

            // Sent with high bits 2: the receiver infers 1, so the ICV cannot match.
            gw1State.sequence.grant(SequenceLease(first: 0x2_0000_0010, count: 1))
            let forged = send(1, through: gw1, frame: clear, label: label)
            XCTAssertEqual(wireSequence(forged[0]), 0x10, label)
            XCTAssertEqual(
                gw2.outside(forged[0], sink: MemorySink()), .dropped(.integrityFailed), label)
            XCTAssertEqual(gw2State.counters.value(.verifyFailed), 1, label)
            XCTAssertEqual(gw2State.highestInboundSequence, 0x1_0000_0001, label)
        }
    }

    func testESNMismatchFailsICV() throws {
        for (encryption, integrity) in ESNPipelineTests.transforms {
            let label = "\(encryption) \(String(describing: integrity))"
            var pair = Lab.esnPair(encryption, integrity)
            pair.gw2.extendedSequenceNumbers = nil
            let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
            let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
            let frames = send(1, through: gw1, frame: Lab.fromHostA(Lab.ipv4UDP()), label: label)
            XCTAssertEqual(
                gw2.outside(frames[0], sink: MemorySink()), .dropped(.integrityFailed), label)
            XCTAssertEqual(gw2State.counters.value(.verifyFailed), 1, label)
        }
    }

    func testWithoutESNStopsAt32Bits() throws {
        let pair = Lab.saPair(encryption: .aesGCM128, integrity: nil)
        let (gw1, gw1State) = try Lab.gateway(gw1: true, sa: pair.gw1)
        gw1State.sequence.grant(SequenceLease(first: ESNPipelineTests.firstSequence, count: 8))
        let wire = MemorySink()
        let clear = Lab.fromHostA(Lab.ipv4UDP())
        let verdicts = (0..<6).map { _ in gw1.inside(clear, sink: wire) }
        XCTAssertEqual(verdicts.prefix(4).filter { $0 == .forwarded(frames: 1) }.count, 4)
        XCTAssertEqual(verdicts[4], .dropped(.sequenceExhausted))
        XCTAssertEqual(verdicts[5], .dropped(.sequenceExhausted))
        XCTAssertEqual(wire.frames.last.map(wireSequence), 0xFFFF_FFFF)
    }
}
