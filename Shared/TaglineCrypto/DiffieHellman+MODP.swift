// MODP groups 2 (RFC 2409 §6.2, 1024 bits), 5 (RFC 3526 §2, 1536 bits), 14
// (RFC 3526 §3, 2048 bits) and 15 (RFC 3526 §4, 3072 bits): safe primes p with
// generator 2, which generates the subgroup of prime order q = (p-1)/2. The
// primes come from OpenSSL's copies of the RFC constants.

import COpenSSL
import TaglineCore

/// EVP_PKEY selections (evp.h). Swift does not import those macros because
/// they are built from other macros with `|`.
let keyParametersSelection: Int32 = 0x84  // EVP_PKEY_KEY_PARAMETERS
let publicKeySelection: Int32 = 0x86  // EVP_PKEY_PUBLIC_KEY
let keyPairSelection: Int32 = 0x87  // EVP_PKEY_KEYPAIR

/// The domain parameters of one MODP group, as big-endian bytes.
struct MODPDomain {
    let prime: [UInt8]
    /// (p-1)/2, the order of the subgroup that g = 2 generates.
    let order: [UInt8]
    static let generator: [UInt8] = [2]

    var primeLength: Int { prime.count }

    private static let group2 = loadDomain(BN_get_rfc2409_prime_1024, length: 128)
    private static let group5 = loadDomain(BN_get_rfc3526_prime_1536, length: 192)
    private static let group14 = loadDomain(BN_get_rfc3526_prime_2048, length: 256)
    private static let group15 = loadDomain(BN_get_rfc3526_prime_3072, length: 384)

    /// Looks up the domain of a MODP group, or throws if OpenSSL could not supply the prime.
    init(group: DHGroup) throws {
        let loaded: Result<MODPDomain, CryptoError>
        switch group {
        case .modp1024: loaded = MODPDomain.group2
        case .modp1536: loaded = MODPDomain.group5
        case .modp2048: loaded = MODPDomain.group14
        case .modp3072: loaded = MODPDomain.group15
        case .ecp256, .ecp384, .ecp521, .curve25519:
            throw CryptoError.invalidArgument("group \(group.rawValue) is not a MODP group")
        }
        self = try loaded.get()
    }

    private init(prime: [UInt8], order: [UInt8]) {
        self.prime = prime
        self.order = order
    }

    /// Reads a prime from one of OpenSSL's BN_get_rfc* functions and computes q = p >> 1.
    private static func loadDomain(
        _ primeFunction: (OpaquePointer?) -> OpaquePointer?, length: Int
    ) -> Result<MODPDomain, CryptoError> {
        guard let prime = primeFunction(nil) else {
            return .failure(.openSSLFailure("BN_get_rfc_prime"))
        }
        defer { BN_free(prime) }
        guard let order = BN_new() else { return .failure(.openSSLFailure("BN_new")) }
        defer { BN_free(order) }
        guard BN_rshift1(order, prime) == 1 else {
            return .failure(.openSSLFailure("BN_rshift1"))
        }
        do {
            return .success(
                MODPDomain(
                    prime: try bigEndianBytes(prime, length: length),
                    order: try bigEndianBytes(order, length: length)))
        } catch let error as CryptoError {
            return .failure(error)
        } catch {
            return .failure(.invalidArgument("\(error)"))
        }
    }

    /// Generates a key pair in this group (EVP_PKEY_fromdata for the domain,
    /// then EVP_PKEY_keygen_init and EVP_PKEY_generate).
    func generateKey() throws -> OpaquePointer {
        let domainKey = try makeEVPKey(
            type: "DH", selection: keyParametersSelection, parameters: domainParameters())
        defer { EVP_PKEY_free(domainKey) }
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, domainKey, nil) else {
            throw CryptoError.openSSLFailure("EVP_PKEY_CTX_new_from_pkey")
        }
        defer { EVP_PKEY_CTX_free(context) }
        try requireSuccess(EVP_PKEY_keygen_init(context), "EVP_PKEY_keygen_init")
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw CryptoError.openSSLFailure("EVP_PKEY_generate")
        }
        return key
    }

    /// Builds a key pair from a big-endian private exponent x in 1..<p-1,
    /// computing the public value g^x mod p (BN_mod_exp, EVP_PKEY_fromdata).
    func makeKey(privateKey: [UInt8]) throws -> OpaquePointer {
        guard privateKey.count <= primeLength else {
            throw CryptoError.invalidKeyLength(expected: primeLength, actual: privateKey.count)
        }
        var padded = [UInt8](repeating: 0, count: primeLength - privateKey.count) + privateKey
        defer { wipe(&padded) }
        guard padded.contains(where: { $0 != 0 }),
            compareBigEndian(padded, primeMinusOne()) < 0
        else {
            throw CryptoError.invalidArgument("MODP private key must be in 1..<p-1")
        }

        // The exponent is secret, so BN_FLG_CONSTTIME selects the constant-time
        // modular exponentiation.
        let exponent = try makeBignum(bigEndian: padded)
        defer { BN_clear_free(exponent) }
        BN_set_flags(exponent, BN_FLG_CONSTTIME)
        let base = try makeBignum(bigEndian: MODPDomain.generator)
        defer { BN_free(base) }
        let modulus = try makeBignum(bigEndian: prime)
        defer { BN_free(modulus) }
        guard let result = BN_new() else { throw CryptoError.openSSLFailure("BN_new") }
        defer { BN_free(result) }
        guard let bignumContext = BN_CTX_new() else {
            throw CryptoError.openSSLFailure("BN_CTX_new")
        }
        defer { BN_CTX_free(bignumContext) }
        try requireSuccess(
            BN_mod_exp(result, base, exponent, modulus, bignumContext), "BN_mod_exp")

        let parameters = domainParameters()
        parameters.addUnsignedInteger(
            "pub", bigEndian: try bigEndianBytes(result, length: primeLength))
        parameters.addUnsignedInteger("priv", bigEndian: padded)
        return try makeEVPKey(type: "DH", selection: keyPairSelection, parameters: parameters)
    }

    /// Returns the public value of `key` left-padded to the prime length
    /// (EVP_PKEY_get_bn_param "pub", BN_bn2binpad).
    func publicValue(of key: OpaquePointer) throws -> [UInt8] {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(key, "pub", &number) == 1, let number else {
            throw CryptoError.openSSLFailure("EVP_PKEY_get_bn_param")
        }
        defer { BN_free(number) }
        return try bigEndianBytes(number, length: primeLength)
    }

    /// Builds the peer's public key after checking 1 < y < p-1 and y^q = 1 mod p,
    /// the full public key validation of NIST SP 800-56A for safe-prime groups.
    /// Throws `.invalidPeerPublicValue` for a value that fails either check.
    func makePeerKey(publicValue: [UInt8]) throws -> OpaquePointer {
        guard publicValue.count == primeLength else { throw CryptoError.invalidPeerPublicValue }
        var two = [UInt8](repeating: 0, count: primeLength)
        two[primeLength - 1] = 2
        guard compareBigEndian(publicValue, two) >= 0,
            compareBigEndian(publicValue, primeMinusOne()) < 0,
            try isInPrimeOrderSubgroup(publicValue)
        else {
            throw CryptoError.invalidPeerPublicValue
        }
        let parameters = domainParameters()
        parameters.addUnsignedInteger("pub", bigEndian: publicValue)
        return try makeEVPKey(type: "DH", selection: publicKeySelection, parameters: parameters)
    }

    /// Checks y^q mod p = 1 (BN_mod_exp), which is true exactly for the values
    /// that g = 2 can generate. A value outside the subgroup would leak the low
    /// bit of the private exponent.
    private func isInPrimeOrderSubgroup(_ value: [UInt8]) throws -> Bool {
        let base = try makeBignum(bigEndian: value)
        defer { BN_free(base) }
        let exponent = try makeBignum(bigEndian: order)
        defer { BN_free(exponent) }
        let modulus = try makeBignum(bigEndian: prime)
        defer { BN_free(modulus) }
        guard let result = BN_new() else { throw CryptoError.openSSLFailure("BN_new") }
        defer { BN_free(result) }
        guard let bignumContext = BN_CTX_new() else {
            throw CryptoError.openSSLFailure("BN_CTX_new")
        }
        defer { BN_CTX_free(bignumContext) }
        try requireSuccess(
            BN_mod_exp(result, base, exponent, modulus, bignumContext), "BN_mod_exp")
        return BN_is_one(result) == 1
    }

    /// p and g as an OSSL_PARAM list ("p", "g"). q is left out on purpose:
    /// OpenSSL 3.0 refuses to generate a key in the 1024-bit group when q is
    /// given, because it then demands 112-bit strength, and it recognizes the
    /// 2048-bit prime as its named group modp_2048 by itself.
    private func domainParameters() -> ParameterList {
        let parameters = ParameterList()
        parameters.addUnsignedInteger("p", bigEndian: prime)
        parameters.addUnsignedInteger("g", bigEndian: MODPDomain.generator)
        return parameters
    }

    /// Returns p - 1 as big-endian bytes. Because p is odd, only the last byte changes.
    private func primeMinusOne() -> [UInt8] {
        var value = prime
        value[value.count - 1] -= 1
        return value
    }
}
