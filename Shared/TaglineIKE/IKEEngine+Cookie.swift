// Stateless COOKIE challenge of the responder (RFC 7296 §2.6):
//
//   HDR(A,0), SAi1, KEi, Ni  -->
//                      <--  HDR(A,0), N(COOKIE)
//   HDR(A,0), N(COOKIE), SAi1, KEi, Ni  -->
//                      <--  HDR(A,B), SAr1, KEr, Nr, [N]
//
// From `effectiveCookieThreshold` half-open SAs on, an IKE_SA_INIT request must return
// a COOKIE before the responder spends a Diffie-Hellman computation or any
// state on it. The cookie is a version byte followed by
// HMAC-SHA-256(secret, Ni | IPi | SPIi). The responder can therefore check
// it without remembering it, and only a source that receives the response
// can return it. The secret changes every `cookieSecretLifetime` seconds and
// the previous one stays valid for one more period.

import TaglineCore
import TaglineCrypto

/// The current and previous secret of the COOKIE computation.
struct CookieSecrets {
    var current: [UInt8]
    var previous: [UInt8]?
    /// The first byte of every cookie made with `current`; the previous secret's is one less.
    var version: UInt8
    var rotatedAt: Double
}

extension IKEEngine {
    static let cookieSecretLength = 32

    /// Returns true when `received` may create a half-open SA. Otherwise this
    /// sends a fresh N(COOKIE) in response and counts the request as "cookie
    /// required" (no COOKIE) or "invalid cookie" (a COOKIE that does not verify).
    func checkCookie(_ received: ReceivedMessage, _ datagram: IKEDatagram) -> Bool {
        guard ikeSAs.halfOpen.count >= effectiveCookieThreshold else { return true }
        let message = received.clearMessage
        let nonce = message.nonce?.nonce ?? []
        let spi = received.header.initiatorSPI
        let address = datagram.remote.address
        // The COOKIE must be the first payload (RFC 7296 §2.6).
        if case .notify(let first)? = message.payloads.first, first.type == .cookie {
            if cookieIsValid(first.data, nonce: nonce, address: address, initiatorSPI: spi) {
                return true
            }
            drop(
                "invalid cookie", "\(datagram.remote): IKE_SA_INIT request with an invalid COOKIE",
                level: .info)
        } else if message.notify(.cookie) != nil {
            drop(
                "invalid cookie",
                "\(datagram.remote): IKE_SA_INIT request with a COOKIE that is not the first "
                    + "payload", level: .info)
        } else {
            drop(
                "cookie required",
                "\(datagram.remote): IKE_SA_INIT request without COOKIE while "
                    + "\(ikeSAs.halfOpen.count) IKE SAs are half open; sending a COOKIE",
                level: .info)
        }
        sendCookie(received.header, datagram, nonce: nonce)
        return false
    }

    /// Responds to an IKE_SA_INIT request with N(COOKIE) only, keeping no state.
    private func sendCookie(_ request: IKEHeader, _ datagram: IKEDatagram, nonce: [UInt8]) {
        let secrets = currentCookieSecrets()
        let cookie =
            [secrets.version]
            + cookieHash(
                secret: secrets.current, nonce: nonce, address: datagram.remote.address,
                initiatorSPI: request.initiatorSPI)
        let header = IKEHeader(
            initiatorSPI: request.initiatorSPI, responderSPI: 0, nextPayload: 0,
            exchangeType: .ikeSAInit, isInitiator: false, isResponse: true, messageID: 0)
        let bytes = IKEMessage(
            header: header, payloads: [.notify(NotifyPayload(type: .cookie, data: cookie))]
        )
        .encodeClear()
        delegate?.engine(
            self, send: IKEDatagram(local: datagram.local, remote: datagram.remote, bytes: bytes))
    }

    /// Returns true when `cookie` was made for these values with the current
    /// or the previous secret.
    func cookieIsValid(
        _ cookie: [UInt8], nonce: [UInt8], address: IPAddress, initiatorSPI: UInt64
    ) -> Bool {
        let secrets = currentCookieSecrets()
        guard let version = cookie.first else { return false }
        let secret: [UInt8]
        if version == secrets.version {
            secret = secrets.current
        } else if version == secrets.version &- 1, let previous = secrets.previous {
            secret = previous
        } else {
            return false
        }
        let expected = cookieHash(
            secret: secret, nonce: nonce, address: address, initiatorSPI: initiatorSPI)
        return !expected.isEmpty && constantTimeEqual(Array(cookie.dropFirst()), expected)
    }

    /// Returns the secrets, made on first use and rotated when a period has passed.
    private func currentCookieSecrets() -> CookieSecrets {
        let now = clock()
        guard var secrets = cookieSecrets else {
            let fresh = CookieSecrets(
                current: random(IKEEngine.cookieSecretLength), previous: nil, version: 0,
                rotatedAt: now)
            cookieSecrets = fresh
            return fresh
        }
        let age = now - secrets.rotatedAt
        guard age >= cookieSecretLifetime else { return secrets }
        // After two periods without a rotation, the previous secret is too old as well.
        secrets.previous = age < 2 * cookieSecretLifetime ? secrets.current : nil
        secrets.current = random(IKEEngine.cookieSecretLength)
        secrets.version &+= 1
        secrets.rotatedAt = now
        cookieSecrets = secrets
        return secrets
    }

    /// HMAC-SHA-256 keyed with `secret` over Ni | IPi | SPIi.
    private func cookieHash(
        secret: [UInt8], nonce: [UInt8], address: IPAddress, initiatorSPI: UInt64
    ) -> [UInt8] {
        var input = nonce + address.bytes
        for shift in stride(from: 56, through: 0, by: -8) {
            input.append(UInt8(truncatingIfNeeded: initiatorSPI >> UInt64(shift)))
        }
        // The HMAC fails only when OpenSSL lacks SHA-256. The empty result then
        // validates no cookie, because `cookieIsValid` rejects an empty hash.
        return (try? HMACContext.authenticate(prf: .hmacSHA256, key: secret, data: input)) ?? []
    }
}
