// IKE fragmentation between two engines (RFC 7383): the notify in
// IKE_SA_INIT both ways, an IKE_AUTH request too large for one 576-byte IPv4
// datagram sent as SKF fragments, a lost fragment, a lost fragmented
// response, and the limits of reassembly.
//
// Lab: A (198.51.100.1) initiates, B (198.51.100.2) responds. A offers eleven
// transform sets, which makes its IKE_AUTH request longer than 548 bytes.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class FragmentationTests: XCTestCase {
    private func lab(extraConfigA: String = "") -> Lab {
        var options = LabConfig.Options()
        options.extraTransformSets = [
            "esp-aes 256 esp-sha256-hmac", "esp-aes 192 esp-sha256-hmac",
            "esp-aes esp-sha256-hmac", "esp-aes 256 esp-sha-hmac", "esp-aes 192 esp-sha-hmac",
            "esp-aes esp-sha-hmac", "esp-gcm 256", "esp-3des esp-sha256-hmac",
            "esp-3des esp-sha-hmac", "esp-chacha20-poly1305",
        ]
        return Lab(
            configA: LabConfig.text(gateway: "A", options) + "\n" + extraConfigA,
            configB: LabConfig.text(gateway: "B"))
    }

    /// The header and, for SKF messages, the fragment number of every datagram delivered.
    private struct Seen {
        var header: IKEHeader
        var size: Int
        var fragment: Int?
    }

    /// Records every datagram and loses those for which `lose` returns true.
    private func watch(_ lab: Lab, lose: @escaping (Seen) -> Bool = { _ in false }) -> () -> [Seen]
    {
        var seen: [Seen] = []
        lab.network = { datagram in
            guard let received = try? ReceivedMessage.decode(datagram.bytes) else {
                return datagram
            }
            var number: Int?
            if received.isFragment, let offset = received.encryptedOffset {
                let at = offset + SKFPayload.fragmentNumberOffset
                number = Int(datagram.bytes[at]) << 8 | Int(datagram.bytes[at + 1])
            }
            let entry = Seen(header: received.header, size: datagram.bytes.count, fragment: number)
            seen.append(entry)
            return lose(entry) ? nil : datagram
        }
        return { seen }
    }

    private func isAuthRequest(_ seen: Seen) -> Bool {
        seen.header.exchangeType == .ikeAuth && !seen.header.isResponse
    }

    func testNegotiatedBothWays() throws {
        let lab = lab()
        var initMessages: [IKEMessage] = []
        lab.network = { datagram in
            if let message = try? ReceivedMessage.decode(datagram.bytes).clearMessage,
                message.header.exchangeType == .ikeSAInit
            {
                initMessages.append(message)
            }
            return datagram
        }
        lab.a.engine.start()
        lab.run()
        // A->B IKE_SA_INIT request with N(IKEV2_FRAGMENTATION_SUPPORTED); B->A the same notify.
        XCTAssertEqual(initMessages.count, 2)
        for message in initMessages {
            XCTAssertNotNil(message.notify(.fragmentationSupported), message.payloadSummary)
        }
        XCTAssertEqual(lab.a.engine.ikeSAs.values.first?.fragmentationNegotiated, true)
        XCTAssertEqual(lab.b.engine.ikeSAs.values.first?.fragmentationNegotiated, true)
    }

    func testLargeAuthIsFragmented() throws {
        let lab = lab()
        let seen = watch(lab)
        lab.a.engine.start()
        lab.run()
        // A->B IKE_SA_INIT; B->A IKE_SA_INIT; A->B IKE_AUTH request 1 as SKF
        // 1/n .. n/n SK{IDi, AUTH, SA, TSi, TSr}; B->A IKE_AUTH response 1 in one SK.
        let auth = seen().filter(isAuthRequest)
        XCTAssertGreaterThan(auth.count, 1)
        XCTAssertEqual(auth.map(\.fragment), auth.indices.map { $0 + 1 })
        XCTAssertTrue(auth.allSatisfy { $0.size <= 548 }, "\(auth.map(\.size))")
        XCTAssertTrue(auth.allSatisfy { $0.header.messageID == 1 })
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
        XCTAssertTrue(lab.b.debugLines.contains { $0.contains("Reassembled IKE_AUTH request 1") })
        XCTAssertTrue(lab.b.engine.reassembly.isEmpty)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testConfiguredMTUSetsFragmentSize() throws {
        // `crypto ikev2 fragmentation mtu 400` on A: IKE_AUTH fragments of at
        // most 400 - 20 (IPv4) - 8 (UDP) bytes of IKE message.
        let lab = lab(extraConfigA: "crypto ikev2 fragmentation mtu 400")
        let seen = watch(lab)
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1)
        let fragments = seen().filter { isAuthRequest($0) && $0.fragment != nil }
        XCTAssertGreaterThan(fragments.count, 1)
        XCTAssertTrue(fragments.allSatisfy { $0.size <= 372 }, "\(fragments.map(\.size))")
    }

    func testNotFragmentedWithoutPeerSupport() throws {
        let lab = lab()
        lab.b.engine.fragmentationEnabled = false
        let seen = watch(lab)
        lab.a.engine.start()
        lab.run()
        let auth = seen().filter(isAuthRequest)
        XCTAssertEqual(auth.count, 1)
        XCTAssertNil(auth.first?.fragment)
        XCTAssertGreaterThan(auth.first?.size ?? 0, 548)
        XCTAssertEqual(lab.a.engine.ikeSAs.values.first?.fragmentationNegotiated, false)
        XCTAssertEqual(lab.a.ready.count, 1)
    }

    func testLostFragmentIsRetransmitted() throws {
        let lab = lab()
        var lost = false
        let seen = watch(lab) { entry in
            guard !lost, entry.fragment == 2 else { return false }
            lost = true
            return true
        }
        lab.a.engine.start()
        lab.run()
        XCTAssertTrue(lab.a.ready.isEmpty)
        XCTAssertEqual(lab.b.engine.reassembly.count, 1, "B waits for fragment 2")

        // A->B every fragment of IKE_AUTH request 1 again; B->A response 1.
        lab.advance(1)
        let auth = seen().filter(isAuthRequest)
        let total = auth.count / 2
        XCTAssertEqual(auth.map(\.fragment), Array(1...total) + Array(1...total))
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.engine.dropCounters["duplicate fragment"], UInt64(total - 1))
        XCTAssertEqual(lab.b.installed.count, 1)
    }

    func testLostFragmentedResponse() throws {
        // B's IKE_AUTH response is fragmented too, with a 200-byte limit on B.
        let lab = lab()
        lab.b.engine.maximumFragmentMessageSize = 200
        var lost = false
        let seen = watch(lab) { entry in
            guard !lost, entry.header.exchangeType == .ikeAuth, entry.header.isResponse,
                entry.fragment == 1
            else { return false }
            lost = true
            return true
        }
        lab.a.engine.start()
        lab.run()
        XCTAssertTrue(lab.a.ready.isEmpty)

        // A->B all request fragments again; only fragment 1 makes B send its
        // cached response, all of its fragments, once (RFC 7383 §2.6.1).
        lab.advance(1)
        XCTAssertEqual(lab.b.engine.retransmittedResponses, 1)
        let responses = seen().filter { $0.header.exchangeType == .ikeAuth && $0.header.isResponse }
        XCTAssertGreaterThan(responses.count, 2)
        XCTAssertTrue(responses.allSatisfy { $0.size <= 200 })
        XCTAssertEqual(responses.count % 2, 0)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.installed.count, 1)
    }

    func testIncompleteMessageTimesOut() throws {
        let lab = lab()
        var firstOnly = true
        _ = watch(lab) { entry in
            self.isAuthRequest(entry) && (entry.fragment != 1 || !firstOnly)
        }
        lab.a.engine.start()
        lab.run()
        firstOnly = false
        XCTAssertEqual(lab.b.engine.reassembly.count, 1)
        XCTAssertEqual(lab.b.engine.nextTimerDeadline(), lab.now + 30)
        lab.now += 30
        lab.b.engine.handleTimers()
        XCTAssertTrue(lab.b.engine.reassembly.isEmpty)
        XCTAssertEqual(lab.b.engine.dropCounters["fragment reassembly timed out"], 1)
    }

    func testForgedFragmentIsNotStored() throws {
        let lab = lab()
        var held: [IKEDatagram] = []
        lab.network = { datagram in
            guard let received = try? ReceivedMessage.decode(datagram.bytes), received.isFragment
            else { return datagram }
            held.append(datagram)
            return nil
        }
        lab.a.engine.start()
        lab.run()
        XCTAssertGreaterThan(held.count, 1)
        // Fragment 1 with a flipped ciphertext bit: counted, nothing stored.
        var forged = try XCTUnwrap(held.first)
        forged.bytes[forged.bytes.count - 30] ^= 0x01
        lab.b.engine.receive(
            IKEDatagram(local: forged.remote, remote: forged.local, bytes: forged.bytes))
        XCTAssertEqual(lab.b.engine.dropCounters["integrity check failed"], 1)
        XCTAssertTrue(lab.b.engine.reassembly.isEmpty)

        // The real fragments still complete the message.
        lab.network = { $0 }
        for datagram in held {
            lab.b.engine.receive(
                IKEDatagram(local: datagram.remote, remote: datagram.local, bytes: datagram.bytes))
        }
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1)
    }

    func testTooManyFragmentsDropped() throws {
        let lab = lab()
        lab.b.engine.maximumFragmentsPerMessage = 1
        lab.a.engine.start()
        lab.run()
        XCTAssertTrue(lab.a.ready.isEmpty)
        XCTAssertGreaterThan(lab.b.engine.dropCounters["too many fragments"] ?? 0, 1)
        XCTAssertTrue(lab.b.engine.reassembly.isEmpty)
    }

    func testTotalFragmentMemoryBounded() throws {
        // B keeps at most 300 fragment bytes over all messages: fragment 1 of
        // A's IKE_AUTH request fits, the next ones are dropped until they time out.
        let lab = lab()
        lab.b.engine.maximumTotalReassemblyBytes = 300
        lab.a.engine.start()
        lab.run()
        XCTAssertTrue(lab.a.ready.isEmpty)
        XCTAssertGreaterThan(lab.b.engine.dropCounters["fragment memory limit reached"] ?? 0, 0)
        XCTAssertLessThanOrEqual(lab.b.engine.reassemblyBytes, 300)
        XCTAssertEqual(
            lab.b.engine.reassemblyBytes,
            lab.b.engine.reassembly.values.reduce(0) { $0 + $1.byteCount })

        // Once the limit allows the whole message, A's retransmission completes it.
        lab.b.engine.maximumTotalReassemblyBytes = 8 << 20
        lab.advance(1)
        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.engine.reassemblyBytes, 0)
    }

    func testFragmentWithoutNegotiation() throws {
        // B did not offer fragmentation, so an SKF message from A is dropped.
        let lab = lab()
        lab.b.engine.fragmentationEnabled = false
        lab.a.engine.start()
        lab.run()
        var sa = try XCTUnwrap(lab.a.engine.ikeSAs.values.first)
        sa.fragmentationNegotiated = true
        lab.a.engine.ikeSAs[sa.localSPI] = sa
        lab.a.engine.maximumFragmentMessageSize = 120
        lab.a.engine.clearChildSAs(peer: nil)
        lab.run()
        XCTAssertGreaterThan(lab.b.engine.dropCounters["unexpected fragment"] ?? 0, 0)
        XCTAssertEqual(lab.b.ready.count, 1, "the SA stays")
    }
}
