// HMAC over OpenSSL 3's EVP_MAC, keyed once and re-used for every MAC.

import COpenSSL
import TaglineCore

/// Keyed HMAC: the key is set once, and each MAC re-initializes the same
/// EVP_MAC_CTX with the stored key, so a MAC allocates nothing in this wrapper.
/// The re-initialization is deferred to the first `update` or `finalize`
/// after a `reset` or `finalize`, so calling `reset` before every MAC costs nothing.
///
/// NOTE: OpenSSL 3.0.19 itself still makes two malloc calls per MAC inside
/// EVP_MAC_init, when it copies the keyed digest state (counted with an
/// LD_PRELOAD malloc counter around 1000 HMAC-SHA-256 runs).
///
/// An instance is not safe to use from two threads at once.
public final class HMACContext {
    private let context: OpaquePointer
    /// True when the next update must first restart the MAC with the stored key.
    private var restartPending = false
    /// Full MAC length in bytes before any truncation (EVP_MAC_CTX_get_mac_size).
    public let outputLength: Int

    /// Creates an HMAC for an IKEv2 PRF. The key may have any length: RFC 7296
    /// keys the PRF with nonces, shared secrets and SK_d alike.
    public convenience init(prf: PRFAlgorithm, key: [UInt8]) throws {
        try self.init(digestName: prf.digestName, key: key)
    }

    /// Creates an HMAC for an ESP or IKE integrity algorithm. The key must be
    /// `integrity.keyLength` bytes (RFC 4868 §2.1.1, RFC 2403, RFC 2404).
    /// `finalize()` returns the full MAC, and `finalize(into:)` with an
    /// `integrity.icvLength` buffer writes the truncated ICV.
    public convenience init(integrity: IntegrityAlgorithm, key: [UInt8]) throws {
        guard key.count == integrity.keyLength else {
            throw CryptoError.invalidKeyLength(expected: integrity.keyLength, actual: key.count)
        }
        try self.init(digestName: integrity.digestName, key: key)
    }

    /// Creates the context and sets the key (EVP_MAC_CTX_new, EVP_MAC_init).
    private init(digestName: StaticString, key: [UInt8]) throws {
        guard let context = EVP_MAC_CTX_new(try FetchedAlgorithms.hmac()) else {
            throw CryptoError.openSSLFailure("EVP_MAC_CTX_new")
        }
        var parameters = [
            OSSL_PARAM_construct_utf8_string(
                ("digest" as StaticString).mutableCString, digestName.mutableCString, 0),
            OSSL_PARAM_construct_end(),
        ]
        // EVP_MAC_init treats a NULL key as "re-use the previous key", so an
        // empty key is passed as a valid pointer with length 0.
        var emptyKeyByte: UInt8 = 0
        let result = key.withUnsafeBytes { keyBytes -> Int32 in
            let keyPointer =
                keyBytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
            return withUnsafeMutablePointer(to: &emptyKeyByte) { emptyKey in
                EVP_MAC_init(
                    context, keyPointer ?? UnsafePointer(emptyKey), key.count,
                    &parameters)
            }
        }
        if result != 1 {
            let error = CryptoError.openSSLFailure("EVP_MAC_init")
            EVP_MAC_CTX_free(context)
            throw error
        }
        self.context = context
        self.outputLength = EVP_MAC_CTX_get_mac_size(context)
    }

    deinit {
        // EVP_MAC_CTX_free cleanses the keyed digest states before freeing them.
        EVP_MAC_CTX_free(context)
    }

    /// Starts a new MAC with the same key, dropping any data fed so far.
    /// `finalize` does this too, so a caller needs it only to drop a MAC that
    /// was partly fed.
    public func reset() {
        restartPending = true
    }

    /// Restarts the MAC with the stored key if a reset is pending
    /// (EVP_MAC_init with a NULL key).
    @inline(__always)
    private func restartIfPending() {
        guard restartPending else { return }
        if EVP_MAC_init(context, nil, 0, nil) != 1 {
            trapOnOpenSSLFailure("EVP_MAC_init")
        }
        restartPending = false
    }

    /// Feeds `data` into the MAC (EVP_MAC_update).
    public func update(_ data: UnsafeRawBufferPointer) {
        guard let base = data.baseAddress, data.count > 0 else { return }
        restartIfPending()
        if EVP_MAC_update(context, base.assumingMemoryBound(to: UInt8.self), data.count) != 1 {
            trapOnOpenSSLFailure("EVP_MAC_update")
        }
    }

    /// Feeds `data` into the MAC (EVP_MAC_update).
    public func update(_ data: [UInt8]) {
        data.withUnsafeBytes { update($0) }
    }

    /// Writes the first `min(out.count, outputLength)` bytes of the MAC, which
    /// truncates it for an ICV, then resets for the next MAC (EVP_MAC_final).
    public func finalize(into out: UnsafeMutableRawBufferPointer) {
        guard let outBase = out.baseAddress, out.count > 0 else {
            reset()
            return
        }
        restartIfPending()
        if out.count >= outputLength {
            writeMAC(into: outBase.assumingMemoryBound(to: UInt8.self), capacity: out.count)
        } else {
            // EVP_MAC_final needs room for the whole MAC, so it goes to a stack
            // buffer first.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: outputLength) { full in
                writeMAC(into: full.baseAddress!, capacity: full.count)
                let prefix = UnsafeMutableBufferPointer(rebasing: full[0..<out.count])
                out.copyMemory(from: UnsafeRawBufferPointer(prefix))
                wipe(UnsafeMutableRawBufferPointer(full))
            }
        }
        reset()
    }

    /// Returns the full, untruncated MAC and resets for the next MAC (EVP_MAC_final).
    public func finalize() -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: outputLength)
        mac.withUnsafeMutableBytes { finalize(into: $0) }
        return mac
    }

    /// Computes one HMAC with a PRF's hash (EVP_MAC_init, EVP_MAC_update, EVP_MAC_final).
    public static func authenticate(prf: PRFAlgorithm, key: [UInt8], data: [UInt8]) throws
        -> [UInt8]
    {
        let hmac = try HMACContext(prf: prf, key: key)
        hmac.update(data)
        return hmac.finalize()
    }

    private func writeMAC(into out: UnsafeMutablePointer<UInt8>, capacity: Int) {
        var written = 0
        if EVP_MAC_final(context, out, &written, capacity) != 1 {
            trapOnOpenSSLFailure("EVP_MAC_final")
        }
        precondition(written == outputLength, "EVP_MAC_final wrote \(written) bytes")
    }
}
