// One direction's cipher and integrity contexts of an SA. OpenSSL contexts
// are not safe to share between threads, so each worker gets its own pair of
// transforms per SA (see SAState).

import TaglineCore
import TaglineCrypto

/// The cipher and MAC that protect one direction of an ESP SA.
final class ESPTransform {
    enum Cipher {
        case cbc(CBCCipher)
        /// AES-GCM (RFC 4106) or ChaCha20-Poly1305 (RFC 7634): salt || IV nonce,
        /// SPI || sequence number as AAD, 16-byte tag.
        case aead(any AEADCipher)
        /// ENCR_NULL (RFC 2410): the payload travels in clear, protected by the MAC only.
        case null
    }

    let cipher: Cipher
    /// The AEAD cipher's contexts, which the packet path calls directly. They live as long as
    /// `cipher`. Nil for CBC and NULL encryption.
    let aead: AEADPacketCipher?
    let mac: HMACContext?
    let encryption: EncryptionAlgorithm
    /// Explicit IV bytes after the ESP header.
    let ivLength: Int
    /// ICV bytes after the trailer: the AEAD tag or the truncated HMAC.
    let icvLength: Int
    /// Alignment of payload plus trailer (RFC 4303 §2.4).
    let blockSize: Int
    /// `blockSize - 1`. Every supported block size is a power of two, so padding rounds up
    /// with this mask instead of a division.
    let blockMask: Int
    /// Bytes of the ESP header, IV and ICV, which every packet of this SA carries.
    let fixedOverhead: Int
    /// 64-bit sequence numbers whose high 32 bits are authenticated but not sent (ESN).
    let extendedSequenceNumbers: Bool

    init(
        encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm?, keys: ChildSAKeys,
        extendedSequenceNumbers: Bool = false
    ) throws {
        self.encryption = encryption
        self.extendedSequenceNumbers = extendedSequenceNumbers
        switch encryption {
        case .aesGCM128, .aesGCM256, .chacha20Poly1305:
            let aeadCipher = try makeAEADCipher(
                algorithm: encryption, keyMaterial: keys.encryptionKey.bytes)
            cipher = .aead(aeadCipher)
            aead = aeadCipher.packetCipher
        case .null:
            cipher = .null
            aead = nil
        case .tripleDES, .aesCBC128, .aesCBC192, .aesCBC256:
            cipher = .cbc(try CBCCipher(algorithm: encryption, key: keys.encryptionKey.bytes))
            aead = nil
        }
        // An AEAD cipher carries its own integrity; a configured integrity algorithm is ignored.
        if let integrity, !encryption.isAEAD {
            mac = try HMACContext(integrity: integrity, key: keys.integrityKey.bytes)
            icvLength = integrity.icvLength
        } else {
            mac = nil
            icvLength = encryption.aeadTagLength
        }
        ivLength = encryption.ivLength
        blockSize = encryption.blockSize
        precondition(
            blockSize > 0 && blockSize & (blockSize - 1) == 0,
            "ESP block size \(blockSize) is not a power of two")
        blockMask = blockSize - 1
        fixedOverhead = ESPLayout.headerSize + ivLength + icvLength
    }

    /// Bytes ESP adds around a payload of `payloadLength` bytes: header, IV, padding,
    /// trailer and ICV.
    func overhead(payloadLength: Int) -> Int {
        let padded = paddedLength(payloadLength)
        return ESPLayout.headerSize + ivLength + (padded - payloadLength) + icvLength
    }

    /// Runs `body` with the AEAD's additional authenticated data. Without ESN that is the
    /// ESP header as sent (SPI, sequence number). With ESN it is the SPI, the high 32 bits
    /// and the low 32 bits of the sequence number (RFC 4106 §5, RFC 7634 §2.1), built in
    /// a 12-byte buffer on the stack.
    @inline(__always)
    func withAAD<Result>(
        esp: UnsafeRawBufferPointer, sequence: UInt64,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        guard extendedSequenceNumbers else {
            return try body(esp.slice(0, ESPLayout.headerSize))
        }
        return try withUnsafeTemporaryAllocation(
            byteCount: ESPLayout.extendedAADSize, alignment: 8
        ) { aad in
            aad.writeUInt32(esp.readUInt32(at: ESPLayout.spiOffset), at: 0)
            aad.writeUInt64(sequence, at: 4)
            return try body(UnsafeRawBufferPointer(aad))
        }
    }

    /// Feeds the ICV input to `mac`: the ESP header to the end of the trailer, then with
    /// ESN the high 32 bits of the sequence number, as if appended after the trailer
    /// (RFC 4303 §2.2.1, §3.3.2.1).
    @inline(__always)
    func authenticate(
        _ authenticated: UnsafeRawBufferPointer, sequence: UInt64, mac: HMACContext
    ) {
        mac.reset()
        mac.update(authenticated)
        guard extendedSequenceNumbers else { return }
        withUnsafeTemporaryAllocation(byteCount: 4, alignment: 4) { high in
            high.writeUInt32(UInt32(truncatingIfNeeded: sequence >> 32), at: 0)
            mac.update(UnsafeRawBufferPointer(high))
        }
    }

    /// Payload plus padding plus the 2-byte trailer, rounded up to the block size. The sum
    /// uses wrapping arithmetic, because a payload of at most a frame cannot overflow it.
    @inline(__always)
    func paddedLength(_ payloadLength: Int) -> Int {
        (payloadLength &+ ESPLayout.trailerSize &+ blockMask) & ~blockMask
    }
}

/// Offsets and sizes of the ESP header and trailer (RFC 4303 §2).
///
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |               Security Parameters Index (SPI)                 |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                      Sequence Number                          |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                    IV (0, 8 or 16 bytes)                      |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |     Payload Data (CMD, inner packet) ...                      |
///  +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |               |     Padding (1, 2, 3, ...)                    |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                               |  Pad Length   | Next Header   |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |         Integrity Check Value (variable)                      |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
enum ESPLayout {
    static let spiOffset = 0
    static let sequenceOffset = 4
    static let headerSize = 8
    /// Pad Length and Next Header.
    static let trailerSize = 2
    /// Next Header values of the payloads a tunnel-mode SA carries.
    static let nextHeaderIPv4: UInt8 = 4
    static let nextHeaderIPv6: UInt8 = 41
    /// A dummy packet for traffic flow confidentiality (RFC 4303 §2.6), discarded.
    static let nextHeaderNone: UInt8 = 59
    /// AEAD additional data with ESN: SPI, high and low 32 bits of the sequence number.
    static let extendedAADSize = 12
    /// Largest tag or truncated MAC of the supported algorithms.
    static let maximumICVLength = 16
}
