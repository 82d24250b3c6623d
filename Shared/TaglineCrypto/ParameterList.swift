// OSSL_PARAM arrays for EVP_PKEY_fromdata, and BIGNUM helpers.

import COpenSSL

/// An OSSL_PARAM array whose values live in buffers this object owns. An
/// OSSL_PARAM stores pointers to its name and value, so both must outlive
/// every OpenSSL call that reads the array. Names are StaticStrings. Values
/// are copied here and wiped in deinit, because some are private keys.
final class ParameterList {
    private var buffers: [UnsafeMutableRawBufferPointer] = []
    private var parameters: [OSSL_PARAM] = []

    deinit {
        for buffer in buffers {
            wipe(buffer)
            buffer.deallocate()
        }
    }

    /// Adds a UTF-8 string parameter (OSSL_PARAM_construct_utf8_string).
    func addString(_ name: StaticString, _ value: StaticString) {
        parameters.append(
            OSSL_PARAM_construct_utf8_string(name.mutableCString, value.mutableCString, 0))
    }

    /// Adds an unsigned integer given as big-endian bytes (OSSL_PARAM_construct_BN).
    /// OpenSSL reads BN parameters in host byte order, so the bytes are reversed
    /// on a little-endian host.
    func addUnsignedInteger(_ name: StaticString, bigEndian bytes: [UInt8]) {
        var buffer = copy(bytes)
        if UInt16(1).littleEndian == 1 {
            buffer.reverse()
        }
        parameters.append(
            OSSL_PARAM_construct_BN(name.mutableCString, buffer.baseAddress, buffer.count))
    }

    /// Adds an octet string parameter (OSSL_PARAM_construct_octet_string).
    func addOctets(_ name: StaticString, _ bytes: [UInt8]) {
        let buffer = copy(bytes)
        parameters.append(
            OSSL_PARAM_construct_octet_string(
                name.mutableCString, UnsafeMutableRawPointer(buffer.baseAddress), buffer.count))
    }

    /// Calls `body` with the array, terminated by OSSL_PARAM_construct_end.
    func withParameters<Result>(
        _ body: (UnsafeMutablePointer<OSSL_PARAM>) throws -> Result
    ) rethrows -> Result {
        var terminated = parameters
        terminated.append(OSSL_PARAM_construct_end())
        return try terminated.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }

    private func copy(_ bytes: [UInt8]) -> UnsafeMutableBufferPointer<UInt8> {
        // One spare byte keeps the allocation non-empty for an empty value.
        let raw = UnsafeMutableRawBufferPointer.allocate(
            byteCount: bytes.count + 1, alignment: 8)
        buffers.append(raw)
        let typed = raw.bindMemory(to: UInt8.self)
        _ = typed.initialize(from: bytes)
        return UnsafeMutableBufferPointer(rebasing: typed[..<bytes.count])
    }
}

/// Creates an EVP_PKEY of `type` ("DH" or "EC") from parameters
/// (EVP_PKEY_CTX_new_from_name, EVP_PKEY_fromdata_init, EVP_PKEY_fromdata).
/// `selection` is EVP_PKEY_KEYPAIR, EVP_PKEY_PUBLIC_KEY or EVP_PKEY_KEY_PARAMETERS.
func makeEVPKey(type: String, selection: Int32, parameters: ParameterList) throws -> OpaquePointer {
    guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
        throw CryptoError.openSSLFailure("EVP_PKEY_CTX_new_from_name")
    }
    defer { EVP_PKEY_CTX_free(context) }
    try requireSuccess(EVP_PKEY_fromdata_init(context), "EVP_PKEY_fromdata_init")
    var key: OpaquePointer?
    let result = parameters.withParameters {
        EVP_PKEY_fromdata(context, &key, selection, $0)
    }
    guard result == 1, let key else {
        throw CryptoError.openSSLFailure("EVP_PKEY_fromdata")
    }
    return key
}

/// Returns a BIGNUM as exactly `length` big-endian bytes (BN_bn2binpad), or
/// throws when the value needs more.
func bigEndianBytes(_ number: OpaquePointer, length: Int) throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: length)
    let written = bytes.withUnsafeMutableBytes {
        BN_bn2binpad(number, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(length))
    }
    guard written == Int32(length) else {
        throw CryptoError.openSSLFailure("BN_bn2binpad")
    }
    return bytes
}

/// Creates a BIGNUM from big-endian bytes (BN_bin2bn). Free it with BN_clear_free.
func makeBignum(bigEndian bytes: [UInt8]) throws -> OpaquePointer {
    let number = bytes.withUnsafeBytes {
        BN_bin2bn($0.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32($0.count), nil)
    }
    guard let number else { throw CryptoError.openSSLFailure("BN_bin2bn") }
    return number
}

/// Compares two unsigned big-endian byte strings of equal length.
func compareBigEndian(_ a: [UInt8], _ b: [UInt8]) -> Int {
    precondition(a.count == b.count, "compareBigEndian needs equal lengths")
    for (left, right) in zip(a, b) where left != right {
        return left < right ? -1 : 1
    }
    return 0
}
