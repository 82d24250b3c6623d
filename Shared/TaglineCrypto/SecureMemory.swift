// Random bytes, constant-time comparison and wiping, over libcrypto.

import COpenSSL

/// Returns `count` bytes from OpenSSL's CSPRNG (RAND_bytes).
///
/// Stops the process if RAND_bytes fails, because nothing that requests
/// random bytes here (nonces, SPIs, private keys) may go on without them.
public func secureRandomBytes(_ count: Int) -> [UInt8] {
    precondition(count >= 0, "secureRandomBytes: negative count \(count)")
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { secureRandomBytes(into: $0) }
    return bytes
}

/// Fills `buffer` from OpenSSL's CSPRNG (RAND_bytes), in chunks of at most
/// `Int32.max` bytes. Stops the process if RAND_bytes fails.
public func secureRandomBytes(into buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    var offset = 0
    while offset < buffer.count {
        let chunk = min(buffer.count - offset, Int(Int32.max))
        let start = (base + offset).assumingMemoryBound(to: UInt8.self)
        if RAND_bytes(start, Int32(chunk)) != 1 {
            trapOnOpenSSLFailure("RAND_bytes")
        }
        offset += chunk
    }
}

/// Compares two byte strings in time that depends only on their length
/// (CRYPTO_memcmp). Arrays of different lengths are unequal at once, since a
/// length is never secret here (ICVs and hashes have fixed sizes).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { left in
        b.withUnsafeBytes { right in
            CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
        }
    }
}

/// Compares two buffers in time that depends only on their length (CRYPTO_memcmp).
public func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard let left = a.baseAddress, let right = b.baseAddress else { return true }
    return CRYPTO_memcmp(left, right, a.count) == 0
}

/// Overwrites every byte with zero in a way the compiler cannot drop (OPENSSL_cleanse).
///
/// NOTE: Swift arrays share storage until a copy is written, so wiping one
/// array leaves earlier copies intact. Wipe each copy, or keep secrets in
/// buffers you allocate yourself.
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { wipe($0) }
}

/// Overwrites every byte of `buffer` with zero (OPENSSL_cleanse).
public func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    OPENSSL_cleanse(base, buffer.count)
}
