// Errors of the OpenSSL wrapper, and the helpers that turn a failed libcrypto
// call into one, with the text of OpenSSL's per-thread error queue.

import COpenSSL

/// Failures of TaglineCrypto. Every libcrypto failure becomes `.openSSL`.
public enum CryptoError: Error, Equatable, CustomStringConvertible {
    /// A failed libcrypto call, with the ERR_get_error texts (oldest first) as `detail`.
    case openSSL(function: String, detail: String)
    /// A key of the wrong size for the algorithm, in bytes.
    case invalidKeyLength(expected: Int, actual: Int)
    /// An input of the wrong size, such as CBC data that is not a block multiple.
    case invalidLength(String)
    /// A Diffie-Hellman public value of the wrong size, off the curve, or out of range.
    case invalidPeerPublicValue
    /// An argument the operation does not accept, such as a GCM algorithm given to
    /// `CBCCipher` or a private key outside the group order.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .openSSL(let function, let detail):
            return "\(function) failed: \(detail)"
        case .invalidKeyLength(let expected, let actual):
            return "invalid key length: \(actual) bytes, expected \(expected)"
        case .invalidLength(let message):
            return "invalid length: \(message)"
        case .invalidPeerPublicValue:
            return "invalid Diffie-Hellman public value from the peer"
        case .invalidArgument(let message):
            return "invalid argument: \(message)"
        }
    }

    /// Builds `.openSSL` for `function` and empties this thread's error queue
    /// (ERR_get_error, ERR_error_string_n), so later calls start clean.
    static func openSSLFailure(_ function: String) -> CryptoError {
        .openSSL(function: function, detail: drainOpenSSLErrors())
    }
}

/// Pops every queued OpenSSL error of this thread and joins their texts.
func drainOpenSSLErrors() -> String {
    var messages: [String] = []
    var buffer = [CChar](repeating: 0, count: 256)
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        ERR_error_string_n(code, &buffer, buffer.count)
        messages.append(String(cString: buffer))
    }
    return messages.isEmpty ? "no OpenSSL error queued" : messages.joined(separator: "; ")
}

/// Throws `.openSSL` unless a libcrypto call returned 1 (its success value).
@inline(__always)
func requireSuccess(_ result: Int32, _ function: String) throws {
    if result != 1 { throw CryptoError.openSSLFailure(function) }
}

/// Stops the process on a libcrypto failure in a method that cannot throw.
/// Used only for calls that no input value can make fail: the HMAC steps,
/// which fail on memory exhaustion or a corrupted context, and RAND_bytes,
/// which fails when the CSPRNG has no entropy source.
func trapOnOpenSSLFailure(_ function: String) -> Never {
    fatalError(CryptoError.openSSLFailure(function).description)
}

/// Converts a buffer length to the `int` that EVP_CipherUpdate and RAND_bytes take.
/// `inputName` is evaluated only on failure, so callers on the packet path may
/// build it by interpolation without allocating per call.
@inline(__always)
func cLength(_ count: Int, _ inputName: @autoclosure () -> String) throws -> Int32 {
    guard let length = Int32(exactly: count) else {
        throw CryptoError.invalidLength(
            "\(inputName()) is \(count) bytes, more than \(Int32.max)")
    }
    return length
}
