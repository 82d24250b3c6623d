// The gate every protected message passes before it may change an IKE SA
// (RFC 7296 §2.21.2 and §3.14). A message whose SK payload is missing, too
// short for its IV and checksum, fails the integrity check or cannot be
// decrypted changes nothing: no message ID moves, no response is cached or
// sent and no SA is removed. It is only counted under its drop reason and
// logged, rate-limited.

import TaglineCore

extension IKEEngine {
    /// A protected message after the SK payload was checked.
    enum UnprotectedMessage {
        /// The SK payload verified and decrypted, and the payloads inside decoded.
        case authentic(IKEMessage)
        /// The SK payload verified and decrypted, so the peer sent it, but the
        /// payload chain inside is malformed.
        case malformedInside(Error)
        /// Not known to come from the peer. It was counted and logged as a drop.
        case rejected
    }

    /// Checks and decrypts the SK payload of `received` with `keys`. The
    /// drops it counts are "missing SK payload", "malformed SK payload"
    /// and "integrity check failed". `description` names the message in log
    /// lines, such as "INFORMATIONAL request 3".
    func unprotect(
        _ received: ReceivedMessage, keys: SKKeys, peer: IPAddress, _ description: String
    ) -> UnprotectedMessage {
        guard received.encryptedOffset != nil else {
            drop("missing SK payload", "\(peer): \(description) has no SK payload", level: .warning)
            return .rejected
        }
        let plaintext: [UInt8]
        do {
            plaintext = try received.openSK(with: keys)
        } catch IKEProtocolError.integrityCheckFailed {
            drop(
                "integrity check failed", "\(peer): \(description) failed its integrity check",
                level: .warning)
            return .rejected
        } catch {
            // Too short for the IV and checksum, or not decryptable: as unproven as a bad ICV.
            drop(
                "malformed SK payload",
                "\(peer): \(description) has a malformed SK payload: \(error)",
                level: .warning)
            return .rejected
        }
        do {
            return .authentic(try received.decodeInner(plaintext))
        } catch {
            return .malformedInside(error)
        }
    }
}
