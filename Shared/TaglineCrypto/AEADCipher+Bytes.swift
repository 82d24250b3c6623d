// Array conveniences over the in-place, pointer-based seal and open of the
// AEAD ciphers, for IKE messages and tests. Each call copies its input once.

extension AEADCipher {
    /// Returns the ciphertext and 16-byte tag for `plaintext` under the salt
    /// and an 8-byte `explicitIV`.
    public func seal(explicitIV: [UInt8], aad: [UInt8], plaintext: [UInt8]) throws
        -> (ciphertext: [UInt8], tag: [UInt8])
    {
        try sealCopy(plaintext: plaintext) { data, tag in
            try explicitIV.withUnsafeBytes { iv in
                try aad.withUnsafeBytes { try seal(explicitIV: iv, aad: $0, data: data, tag: tag) }
            }
        }
    }

    /// Returns the plaintext, or nil when the tag does not verify.
    public func open(explicitIV: [UInt8], aad: [UInt8], ciphertext: [UInt8], tag: [UInt8])
        throws -> [UInt8]?
    {
        try openCopy(ciphertext: ciphertext) { data in
            try explicitIV.withUnsafeBytes { iv in
                try aad.withUnsafeBytes { aadBytes in
                    try tag.withUnsafeBytes {
                        try open(explicitIV: iv, aad: aadBytes, data: data, tag: $0)
                    }
                }
            }
        }
    }

    /// Returns the ciphertext and 16-byte tag for `plaintext` under a full 12-byte nonce.
    public func seal(nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) throws
        -> (ciphertext: [UInt8], tag: [UInt8])
    {
        try sealCopy(plaintext: plaintext) { data, tag in
            try nonce.withUnsafeBytes { nonceBytes in
                try aad.withUnsafeBytes {
                    try seal(nonce: nonceBytes, aad: $0, data: data, tag: tag)
                }
            }
        }
    }

    /// Returns the plaintext under a full 12-byte nonce, or nil when the tag does not verify.
    public func open(nonce: [UInt8], aad: [UInt8], ciphertext: [UInt8], tag: [UInt8]) throws
        -> [UInt8]?
    {
        try openCopy(ciphertext: ciphertext) { data in
            try nonce.withUnsafeBytes { nonceBytes in
                try aad.withUnsafeBytes { aadBytes in
                    try tag.withUnsafeBytes {
                        try open(nonce: nonceBytes, aad: aadBytes, data: data, tag: $0)
                    }
                }
            }
        }
    }

    private func sealCopy(
        plaintext: [UInt8],
        _ body: (UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer) throws -> Void
    ) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        var data = plaintext
        var tag = [UInt8](repeating: 0, count: AEADLayout.tagLength)
        try data.withUnsafeMutableBytes { dataBytes in
            try tag.withUnsafeMutableBytes { try body(dataBytes, $0) }
        }
        return (data, tag)
    }

    private func openCopy(
        ciphertext: [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws -> Bool
    ) throws -> [UInt8]? {
        var data = ciphertext
        let verified = try data.withUnsafeMutableBytes { try body($0) }
        return verified ? data : nil
    }
}
