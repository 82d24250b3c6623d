// The IKEv2 pseudo-random function and its prf+ expansion (RFC 7296 §2.13).

import TaglineCore

/// prf and prf+ of RFC 7296 §2.13, both HMAC with the PRF's hash.
public enum PRF {
    /// Largest prf+ output in blocks: the counter byte runs from 0x01 to 0xFF.
    public static let maxPlusBlocks = 255

    /// prf(K, S) of RFC 7296 §2.13 (HMAC with the PRF's hash, through EVP_MAC).
    public static func compute(_ algorithm: PRFAlgorithm, key: [UInt8], data: [UInt8]) throws
        -> [UInt8]
    {
        try HMACContext.authenticate(prf: algorithm, key: key, data: data)
    }

    /// prf+(K, S) = T1 | T2 | ... of RFC 7296 §2.13, truncated to `length`, where
    /// T1 = prf(K, S | 0x01) and Tn = prf(K, Tn-1 | S | n).
    ///
    /// Throws `.invalidLength` when `length` is negative or needs more than
    /// 255 blocks (5100 bytes for PRF_HMAC_SHA1, 8160 for PRF_HMAC_SHA2_256).
    public static func plus(_ algorithm: PRFAlgorithm, key: [UInt8], seed: [UInt8], length: Int)
        throws -> [UInt8]
    {
        guard length >= 0 else {
            throw CryptoError.invalidLength("prf+ output length \(length) is negative")
        }
        let blockLength = algorithm.outputLength
        let blockCount = (length + blockLength - 1) / blockLength
        guard blockCount <= maxPlusBlocks else {
            throw CryptoError.invalidLength(
                "prf+ output of \(length) bytes needs \(blockCount) blocks of \(blockLength) "
                    + "bytes, more than the maximum of \(maxPlusBlocks)")
        }
        if blockCount == 0 { return [] }

        let hmac = try HMACContext(prf: algorithm, key: key)
        var output = [UInt8]()
        output.reserveCapacity(blockCount * blockLength)
        var previousBlock = [UInt8](repeating: 0, count: blockLength)
        for counter in 1...blockCount {
            // T1 has no previous block, and every later Tn starts with Tn-1.
            if counter > 1 { hmac.update(previousBlock) }
            hmac.update(seed)
            withUnsafeBytes(of: UInt8(counter)) { hmac.update($0) }
            previousBlock.withUnsafeMutableBytes { hmac.finalize(into: $0) }
            output.append(contentsOf: previousBlock)
        }
        wipe(&previousBlock)

        // Zero the surplus bytes of the last block before dropping them, so no
        // key material stays behind in the array's spare capacity.
        for index in length..<output.count { output[index] = 0 }
        output.removeLast(output.count - length)
        return output
    }
}
