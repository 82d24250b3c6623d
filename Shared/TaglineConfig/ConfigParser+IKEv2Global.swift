// The global IKEv2 lines that tune how the responder and the fragmenter
// work: `crypto ikev2 cookie-challenge` and `crypto ikev2 fragmentation`.
//
// IOS turns both off until they are configured. Tagline demands COOKIEs from
// 50 half-open SAs and offers fragmentation (RFC 7383) without them, so these
// lines only change the threshold and the fragment size.

import TaglineCore

extension ConfigParser {
    /// Sets the COOKIE threshold from `crypto ikev2 cookie-challenge N`, 1-1000 half-open IKE SAs.
    mutating func setCookieChallenge(_ line: ConfigLine) throws -> CommandResult {
        let threshold = try integer(
            line, 3, "cookie-challenge threshold", in: GatewayConfig.cookieChallengeRange)
        try requireEnd(line, 4)
        config.cookieChallenge = threshold
        return .applied
    }

    /// Sets the fragment size from `crypto ikev2 fragmentation [mtu N]`, N
    /// 68-1500 bytes of IP datagram.
    mutating func setIKEFragmentation(_ line: ConfigLine) throws -> CommandResult {
        guard let word = line.word(3) else { return .applied }
        guard word.lowercased() == "mtu" else {
            throw ConfigLineError.unknown(
                word, after: "crypto ikev2 fragmentation", expected: ["mtu"])
        }
        let mtu = try integer(
            line, 4, "fragmentation mtu", in: GatewayConfig.ikeFragmentationMTURange)
        try requireEnd(line, 5)
        config.ikeFragmentationMTU = mtu
        return .applied
    }
}
