// The responder's COOKIE challenge (RFC 7296 §2.6) under a flood of
// IKE_SA_INIT requests, the initiator repeating its request with the COOKIE
// first, invalid cookies, and the rotation of the secret.
//
// Lab: A (198.51.100.1) initiates, B (198.51.100.2) responds.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class CookieTests: XCTestCase {
    private func lab() -> Lab {
        Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
    }

    /// Returns `request` with `cookie` inserted as a notify at `position`.
    private func withCookie(_ request: IKEDatagram, _ cookie: [UInt8], at position: Int = 0) throws
        -> IKEDatagram
    {
        var message = try ReceivedMessage.decode(request.bytes).clearMessage
        message.payloads.insert(.notify(NotifyPayload(type: .cookie, data: cookie)), at: position)
        var changed = request
        changed.bytes = message.encodeClear()
        return changed
    }

    /// Returns the COOKIE of a response that carries only N(COOKIE), or nil.
    private func cookie(in datagram: IKEDatagram?) -> [UInt8]? {
        guard let datagram, let message = try? ReceivedMessage.decode(datagram.bytes).clearMessage,
            message.header.responderSPI == 0, message.payloads.count == 1
        else { return nil }
        return message.notify(.cookie)?.data
    }

    func testCookieRequiredAtThreshold() throws {
        let lab = lab()
        lab.b.engine.cookieThreshold = 3
        let requests = try Lab.floodRequests(5)
        for request in requests {
            lab.b.engine.receive(request)
        }
        // Three half-open SAs, then two stateless COOKIE responses.
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 3)
        XCTAssertEqual(lab.b.outbox.count, 5)
        XCTAssertEqual(lab.b.engine.dropCounters["cookie required"], 2)
        let cookie = try XCTUnwrap(self.cookie(in: lab.b.outbox.last))
        XCTAssertEqual(cookie.count, 33, "version byte and HMAC-SHA-256")
        XCTAssertNil(self.cookie(in: lab.b.outbox.first), "a normal response below the threshold")

        // The same request with that COOKIE first creates a half-open SA.
        lab.b.engine.receive(try withCookie(requests[4], cookie))
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 4)
        XCTAssertNil(self.cookie(in: lab.b.outbox.last))
        XCTAssertNil(lab.b.engine.dropCounters["invalid cookie"])
    }

    func testConfiguredThresholdWins() throws {
        // `crypto ikev2 cookie-challenge 2` on B takes precedence over the
        // engine's own threshold, which a command-line option sets.
        let lab = Lab(
            configA: LabConfig.text(gateway: "A"),
            configB: LabConfig.text(gateway: "B") + "\ncrypto ikev2 cookie-challenge 2\n")
        lab.b.engine.cookieThreshold = 1000
        for request in try Lab.floodRequests(4) {
            lab.b.engine.receive(request)
        }
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 2)
        XCTAssertEqual(lab.b.engine.dropCounters["cookie required"], 2)
    }

    func testInitiatorRetriesWithCookie() throws {
        // B is flooded past its threshold; A still gets an IKE SA.
        let lab = lab()
        lab.b.engine.cookieThreshold = 3
        for request in try Lab.floodRequests(6) {
            lab.b.engine.receive(request)
        }
        lab.b.outbox.removeAll()

        var initRequests: [IKEMessage] = []
        lab.network = { datagram in
            if let message = try? ReceivedMessage.decode(datagram.bytes).clearMessage,
                message.header.exchangeType == .ikeSAInit, !message.header.isResponse
            {
                initRequests.append(message)
            }
            return datagram
        }
        lab.a.engine.start()
        lab.run()

        // A->B IKE_SA_INIT request 0; B->A N(COOKIE); A->B request 0 with
        // N(COOKIE) first; B->A SA, KE, Nr; then IKE_AUTH.
        XCTAssertEqual(
            Array(lab.transcript.prefix(4)),
            [
                "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0",
                "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0",
            ])
        XCTAssertEqual(initRequests.count, 2)
        XCTAssertEqual(initRequests.last?.payloads.first?.name, "N(COOKIE)")
        XCTAssertEqual(
            initRequests.first?.header.initiatorSPI, initRequests.last?.header.initiatorSPI)
        XCTAssertEqual(initRequests.first?.nonce, initRequests.last?.nonce)

        XCTAssertEqual(lab.a.ready.count, 1)
        XCTAssertEqual(lab.b.ready.count, 1)
        XCTAssertEqual(lab.b.engine.dropCounters["cookie required"], 4)
        XCTAssertEqual(lab.a.problems, [])
    }

    func testInvalidCookieIsCounted() throws {
        let lab = lab()
        lab.b.engine.cookieThreshold = 1
        let requests = try Lab.floodRequests(3)
        lab.b.engine.receive(requests[0])
        lab.b.engine.receive(requests[1])
        let cookie = try XCTUnwrap(self.cookie(in: lab.b.outbox.last))

        // Forged, for another SPI, and not the first payload: each one gets a fresh COOKIE.
        var forged = cookie
        forged[5] ^= 0xFF
        lab.b.engine.receive(try withCookie(requests[1], forged))
        lab.b.engine.receive(try withCookie(requests[2], cookie))
        lab.b.engine.receive(try withCookie(requests[1], cookie, at: 1))
        lab.b.engine.receive(try withCookie(requests[1], [cookie[0]]))
        XCTAssertEqual(lab.b.engine.dropCounters["invalid cookie"], 4)
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 1)
        XCTAssertEqual(self.cookie(in: lab.b.outbox.last), cookie)
    }

    func testCookieSecretRotates() throws {
        let lab = lab()
        lab.b.engine.cookieThreshold = 0
        lab.b.engine.cookieSecretLifetime = 60
        let requests = try Lab.floodRequests(3)
        lab.b.engine.receive(requests[0])
        let first = try XCTUnwrap(cookie(in: lab.b.outbox.last))

        // One period later the previous secret still verifies.
        lab.now += 60
        lab.b.engine.receive(try withCookie(requests[0], first))
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 1)
        lab.b.engine.receive(requests[1])
        let second = try XCTUnwrap(cookie(in: lab.b.outbox.last))
        XCTAssertNotEqual(second, first)

        // Two periods after it was made, the first cookie is rejected; the second still works.
        lab.now += 60
        lab.b.engine.receive(try withCookie(requests[2], first))
        XCTAssertEqual(lab.b.engine.dropCounters["invalid cookie"], 1)
        lab.b.engine.receive(try withCookie(requests[1], second))
        XCTAssertEqual(lab.b.engine.halfOpenSACount, 2)
    }
}
