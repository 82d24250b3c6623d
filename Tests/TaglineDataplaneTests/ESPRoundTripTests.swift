import TaglineCore
import TaglineCrypto
import XCTest

@testable import TaglineDataplane

final class ESPRoundTripTests: XCTestCase {
    /// Every encryption algorithm with the integrity algorithms it is used with.
    static let transforms: [(EncryptionAlgorithm, IntegrityAlgorithm?)] = [
        (.tripleDES, .hmacSHA1_96),
        (.aesCBC128, .hmacMD5_96),
        (.aesCBC128, .hmacSHA1_96),
        (.aesCBC192, .hmacSHA256_128),
        (.aesCBC256, .hmacSHA256_128),
        (.aesGCM128, nil),
        (.aesGCM256, nil),
        (.chacha20Poly1305, nil),
        (.null, .hmacSHA1_96),
        (.null, .hmacSHA256_128),
    ]

    /// gw1 encrypts a frame from host A, gw2 decrypts it; returns gw2's output frame.
    private func roundTrip(
        _ pair: (gw1: ChildSA, gw2: ChildSA), packet: [UInt8],
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> [UInt8]? {
        let (gw1, gw1State) = try Lab.gateway(
            gw1: true, sa: pair.gw1,
            bindings: [
                SGTBinding(
                    prefix: IPPrefix("192.0.2.0/24")!,
                    sgt: SGT(333)!, source: .config)
            ])
        let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let wire = MemorySink()
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(packet), sink: wire), .forwarded(frames: 1),
            file: file, line: line)
        guard let esp = wire.frames.first else { return nil }
        XCTAssertLessThanOrEqual(esp.count - 14, 1500, file: file, line: line)
        let delivered = MemorySink()
        XCTAssertEqual(
            gw2.outside(esp, sink: delivered), .forwarded(frames: 1),
            file: file, line: line)
        XCTAssertEqual(gw1State.counters.value(.encaps), 1, file: file, line: line)
        XCTAssertEqual(gw2State.counters.value(.decaps), 1, file: file, line: line)
        XCTAssertEqual(gw2.context.dropTotals(), [:], file: file, line: line)
        return delivered.frames.first
    }

    func testEveryTransformBothFamiliesWithAndWithoutUDP() throws {
        for (encryption, integrity) in ESPRoundTripTests.transforms {
            for outerIPv6 in [false, true] {
                for udp in [false, true] {
                    let label =
                        "\(encryption) \(String(describing: integrity)) v6=\(outerIPv6) udp=\(udp)"
                    let pair = Lab.saPair(
                        encryption: encryption, integrity: integrity, udp: udp,
                        outerIPv6: outerIPv6)
                    for packet in [Lab.ipv4UDP(), Lab.ipv6UDP()] {
                        let output = try roundTrip(pair, packet: packet)
                        let type: UInt16 = packet[0] >> 4 == 4 ? 0x0800 : 0x86DD
                        let expected = Lab.ethernet(
                            destination: Lab.hostBMAC,
                            source: Lab.gw2InsideMAC, type: type,
                            Lab.forwarded(packet, hops: 2))
                        XCTAssertEqual(output, expected, label)
                    }
                }
            }
        }
    }

    func testOuterHeadersOfUDPEncapsulation() throws {
        let pair = Lab.saPair(udp: true)
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let wire = MemorySink()
        _ = gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire)
        let frame = try XCTUnwrap(wire.frames.first)
        XCTAssertEqual(Array(frame[0..<6]), Lab.gw2OutsideMAC.bytes)  // next-hop MAC
        XCTAssertEqual(frame[14 + 9], 17)  // outer protocol UDP
        XCTAssertEqual(Array(frame[26..<34]), [198, 51, 100, 1, 198, 51, 100, 2])
        XCTAssertEqual(Array(frame[34..<38]), [0x11, 0x94, 0x11, 0x94])  // ports 4500 -> 4500
        XCTAssertEqual(Array(frame[40..<42]), [0, 0])  // UDP checksum 0 (RFC 3948)
        XCTAssertEqual(Array(frame[42..<46]), [0x20, 0x00, 0x00, 0x02])  // SPI of gw2
        XCTAssertEqual(Array(frame[46..<50]), [0, 0, 0, 1])  // sequence number 1
    }

    func testTamperedICVDropped() throws {
        for (encryption, integrity) in [
            (EncryptionAlgorithm.aesCBC256, IntegrityAlgorithm.hmacSHA256_128),
            (.aesGCM128, nil),
            (.chacha20Poly1305, nil),
        ] {
            let pair = Lab.saPair(encryption: encryption, integrity: integrity)
            let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
            let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
            let wire = MemorySink()
            _ = gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire)
            var frame = try XCTUnwrap(wire.frames.first)
            frame[frame.count - 1] ^= 0x01
            let delivered = MemorySink()
            XCTAssertEqual(gw2.outside(frame, sink: delivered), .dropped(.integrityFailed))
            XCTAssertTrue(delivered.frames.isEmpty)
            XCTAssertEqual(gw2.context.drops[0].value(.integrityFailed), 1)
            XCTAssertEqual(gw2State.counters.value(.verifyFailed), 1)
            XCTAssertEqual(gw2State.counters.value(.decaps), 0)

            // A failed packet must not move the replay window: the genuine one still passes.
            frame[frame.count - 1] ^= 0x01
            XCTAssertEqual(gw2.outside(frame, sink: delivered), .forwarded(frames: 1))
        }
    }

    func testChaChaWireLayoutMatchesRFC7634() throws {
        // RFC 7634 §2: SPI and sequence number, an 8-byte IV, the ciphertext and a
        // 16-byte tag. The nonce is the 4-byte salt that ends the key material,
        // followed by the IV, and the AAD is SPI || sequence number (RFC 4106 §5).
        let pair = Lab.saPair(encryption: .chacha20Poly1305, integrity: nil)
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let wire = MemorySink()
        let packet = Lab.ipv4UDP()
        XCTAssertEqual(gw1.inside(Lab.fromHostA(packet), sink: wire), .forwarded(frames: 1))
        let frame = try XCTUnwrap(wire.frames.first)

        // Ethernet (14) and an outer IPv4 header without options (20), then ESP.
        XCTAssertEqual(frame[14 + 9], 50)  // outer protocol ESP
        let esp = Array(frame[34...])
        XCTAssertEqual(Array(esp[0..<4]), [0x20, 0x00, 0x00, 0x02])  // gw2's SPI
        XCTAssertEqual(Array(esp[4..<8]), [0, 0, 0, 1])  // first sequence number
        // The IV is the 64-bit sequence number, unique under the key.
        XCTAssertEqual(Array(esp[8..<16]), [0, 0, 0, 0, 0, 0, 0, 1])
        let tagStart = esp.count - 16

        let cipher = try ChaCha20Poly1305Cipher(
            keyMaterial: pair.gw1.outboundKeys.encryptionKey.bytes)
        let plaintext = try XCTUnwrap(
            cipher.open(
                explicitIV: Array(esp[8..<16]), aad: Array(esp[0..<8]),
                ciphertext: Array(esp[16..<tagStart]), tag: Array(esp[tagStart...])))

        // Payload, padding 1, 2, ... to a multiple of 4, Pad Length, Next Header 4
        // (IPv4: no binding, so no CMD).
        XCTAssertEqual(plaintext.count % 4, 0)
        XCTAssertEqual(plaintext.last, 4)
        let padLength = Int(plaintext[plaintext.count - 2])
        XCTAssertEqual(plaintext.count, packet.count + padLength + 2)
        XCTAssertEqual(
            Array(plaintext[packet.count..<(packet.count + padLength)]),
            (0..<padLength).map { UInt8($0 + 1) })
        XCTAssertEqual(
            Array(plaintext[..<packet.count]), Array(Lab.forwarded(packet, hops: 1)))
    }

    func testReplayDropped() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let wire = MemorySink()
        _ = gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire)
        let frame = try XCTUnwrap(wire.frames.first)
        let delivered = MemorySink()
        XCTAssertEqual(gw2.outside(frame, sink: delivered), .forwarded(frames: 1))
        XCTAssertEqual(gw2.outside(frame, sink: delivered), .dropped(.replay))
        XCTAssertEqual(delivered.frames.count, 1)
        XCTAssertEqual(gw2.context.drops[0].value(.replay), 1)
        XCTAssertEqual(gw2State.counters.value(.replayFailed), 1)
    }

    func testUnknownSPIDropped() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let wire = MemorySink()
        _ = gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire)
        var frame = try XCTUnwrap(wire.frames.first)
        frame[34] ^= 0xFF  // first SPI byte
        XCTAssertEqual(gw2.outside(frame, sink: MemorySink()), .dropped(.noSA))
    }

    func testBadPaddingDropped() throws {
        // NULL encryption lets the test choose the padding bytes; the ICV is still valid.
        let pair = Lab.saPair(encryption: .null, integrity: .hmacSHA1_96)
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        let inner = Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA)  // 52 bytes
        let rows: [(trailer: [UInt8], note: String)] = [
            ([1, 9, 2, 4], "padding 1, 9 instead of 1, 2; Pad Length 2; Next Header IPv4"),
            ([0, 0, 200, 4], "Pad Length 200 runs past the payload"),
        ]
        for (index, row) in rows.enumerated() {
            let esp = builder.nullESP(body: inner + row.trailer, sequence: UInt32(index + 1))
            XCTAssertEqual(
                gw1.outside(builder.wrap(esp), sink: MemorySink()),
                .dropped(.invalidPadding), row.note)
        }
        XCTAssertEqual(gw1.context.drops[0].value(.invalidPadding), 2)

        // The same body with correct padding 1, 2 is delivered.
        let good = builder.nullESP(body: inner + [1, 2, 2, 4], sequence: 3)
        XCTAssertEqual(gw1.outside(builder.wrap(good), sink: MemorySink()), .forwarded(frames: 1))
        XCTAssertEqual(state.counters.value(.decaps), 3)
    }

    func testSequenceExhaustedDropped() throws {
        let pair = Lab.saPair()
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let wire = MemorySink(capacity: 2000)
        for _ in 0..<1000 { _ = gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire) }
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire),
            .dropped(.sequenceExhausted))
        state.sequence.grant(SequenceLease(first: 1001, count: 10))
        XCTAssertEqual(gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), sink: wire), .forwarded(frames: 1))
    }
}
