// Key derivation for the IKE SA (RFC 7296 §2.14), pre-shared-key AUTH
// (§2.15) and Child SA key material (§2.17).

import TaglineCore
import TaglineCrypto

/// The seven secrets of an IKE SA, derived from the DH shared secret and both nonces.
public struct IKESAKeys: Equatable, Sendable, Codable {
    /// SK_d: the key that Child SA key material is derived from.
    public var derivation: SecretBytes
    /// SK_ai and SK_ar: integrity keys (empty for the AEAD ciphers).
    public var initiatorIntegrity: SecretBytes
    public var responderIntegrity: SecretBytes
    /// SK_ei and SK_er: encryption keys, with the 4-byte salt for the AEAD ciphers.
    public var initiatorEncryption: SecretBytes
    public var responderEncryption: SecretBytes
    /// SK_pi and SK_pr: keys for the MACedIDFor{I,R} of the AUTH computation.
    public var initiatorIdentity: SecretBytes
    public var responderIdentity: SecretBytes

    /// Derives the keys:
    ///
    ///     SKEYSEED = prf(Ni | Nr, g^ir)
    ///     {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    ///         = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
    ///
    /// SK_d, SK_pi and SK_pr are as long as the PRF output; the HMAC PRFs take
    /// the whole nonce concatenation as their key.
    public static func derive(
        prf: PRFAlgorithm, encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm?,
        sharedSecret: [UInt8], initiatorNonce: [UInt8], responderNonce: [UInt8],
        initiatorSPI: UInt64, responderSPI: UInt64
    ) throws -> IKESAKeys {
        let seed = try PRF.compute(prf, key: initiatorNonce + responderNonce, data: sharedSecret)
        return try expand(
            seed: seed, prf: prf, encryption: encryption, integrity: integrity,
            initiatorNonce: initiatorNonce, responderNonce: responderNonce,
            initiatorSPI: initiatorSPI, responderSPI: responderSPI)
    }

    /// Derives the keys of the IKE SA that a CREATE_CHILD_SA rekey creates (RFC 7296 §2.18):
    ///
    ///     SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
    ///
    /// then the seven keys as in `derive`, with the new nonces and SPIs. The
    /// exchange belongs to the old IKE SA, so SKEYSEED uses the old SA's PRF
    /// (`oldPRF`) and the expansion the new one's (`prf`).
    public static func deriveRekeyed(
        oldPRF: PRFAlgorithm, oldDerivationKey: [UInt8], prf: PRFAlgorithm,
        encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm?, sharedSecret: [UInt8],
        initiatorNonce: [UInt8], responderNonce: [UInt8], initiatorSPI: UInt64,
        responderSPI: UInt64
    ) throws -> IKESAKeys {
        let seed = try PRF.compute(
            oldPRF, key: oldDerivationKey, data: sharedSecret + initiatorNonce + responderNonce)
        return try expand(
            seed: seed, prf: prf, encryption: encryption, integrity: integrity,
            initiatorNonce: initiatorNonce, responderNonce: responderNonce,
            initiatorSPI: initiatorSPI, responderSPI: responderSPI)
    }

    /// Splits {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    /// = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) into the seven keys.
    private static func expand(
        seed: [UInt8], prf: PRFAlgorithm, encryption: EncryptionAlgorithm,
        integrity: IntegrityAlgorithm?, initiatorNonce: [UInt8], responderNonce: [UInt8],
        initiatorSPI: UInt64, responderSPI: UInt64
    ) throws -> IKESAKeys {
        var spis = ByteWriter()
        spis.append(initiatorSPI)
        spis.append(responderSPI)
        let prfLength = prf.outputLength
        let integrityLength = integrity?.keyLength ?? 0
        let encryptionLength = encryption.keyMaterialLength
        let total = 3 * prfLength + 2 * integrityLength + 2 * encryptionLength
        let stream = try PRF.plus(
            prf, key: seed, seed: initiatorNonce + responderNonce + spis.bytes, length: total)

        var cursor = 0
        func take(_ count: Int) -> SecretBytes {
            defer { cursor += count }
            return SecretBytes(Array(stream[cursor..<(cursor + count)]))
        }
        return IKESAKeys(
            derivation: take(prfLength),
            initiatorIntegrity: take(integrityLength),
            responderIntegrity: take(integrityLength),
            initiatorEncryption: take(encryptionLength),
            responderEncryption: take(encryptionLength),
            initiatorIdentity: take(prfLength),
            responderIdentity: take(prfLength))
    }

    /// Returns the SK keys that protect the messages sent by the initiator or by
    /// the responder.
    public func protection(
        ofInitiator: Bool, encryption: EncryptionAlgorithm,
        integrity: IntegrityAlgorithm?
    ) -> SKKeys {
        SKKeys(
            encryption: encryption, integrity: integrity,
            encryptionKey: (ofInitiator ? initiatorEncryption : responderEncryption).bytes,
            integrityKey: (ofInitiator ? initiatorIntegrity : responderIntegrity).bytes)
    }
}

/// The PSK form of the AUTH payload (RFC 7296 §2.15).
public enum PSKAuthentication {
    /// The 17 ASCII bytes "Key Pad for IKEv2".
    static let keyPad = Array("Key Pad for IKEv2".utf8)

    /// Computes the AUTH data one peer sends:
    ///
    ///     AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
    ///     SignedOctets = RealMessage | NonceData | prf(SK_p, RestOfIDPayload)
    ///
    /// `message` is the sender's own IKE_SA_INIT message as sent, `peerNonce`
    /// the nonce of the other peer, `identityKey` the sender's SK_pi or SK_pr
    /// and `idPayloadBody` the body of the sender's IDi or IDr payload.
    public static func authData(
        prf: PRFAlgorithm, sharedKey: [UInt8], message: [UInt8], peerNonce: [UInt8],
        identityKey: [UInt8], idPayloadBody: [UInt8]
    ) throws -> [UInt8] {
        let macedID = try PRF.compute(prf, key: identityKey, data: idPayloadBody)
        let signedOctets = message + peerNonce + macedID
        let padded = try PRF.compute(prf, key: sharedKey, data: keyPad)
        return try PRF.compute(prf, key: padded, data: signedOctets)
    }
}

/// Child SA key material (RFC 7296 §2.17).
public enum ChildSAKeyMaterial {
    /// Derives KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) and splits it in the
    /// order the RFC fixes: the initiator-to-responder encryption key, then its
    /// integrity key, then the responder-to-initiator encryption and integrity
    /// keys. AES-GCM and ChaCha20-Poly1305 keys include their 4-byte salt.
    ///
    /// Returns (initiator to responder, responder to initiator).
    public static func derive(
        prf: PRFAlgorithm, derivationKey: [UInt8], encryption: EncryptionAlgorithm,
        integrity: IntegrityAlgorithm?, pfsSharedSecret: [UInt8]? = nil,
        initiatorNonce: [UInt8], responderNonce: [UInt8]
    ) throws -> (initiatorToResponder: ChildSAKeys, responderToInitiator: ChildSAKeys) {
        let encryptionLength = encryption.keyMaterialLength
        let integrityLength = integrity?.keyLength ?? 0
        let seed = (pfsSharedSecret ?? []) + initiatorNonce + responderNonce
        let stream = try PRF.plus(
            prf, key: derivationKey, seed: seed,
            length: 2 * (encryptionLength + integrityLength))
        var cursor = 0
        func take(_ count: Int) -> [UInt8] {
            defer { cursor += count }
            return Array(stream[cursor..<(cursor + count)])
        }
        let outbound = ChildSAKeys(
            encryptionKey: take(encryptionLength), integrityKey: take(integrityLength))
        let inbound = ChildSAKeys(
            encryptionKey: take(encryptionLength), integrityKey: take(integrityLength))
        return (outbound, inbound)
    }
}
