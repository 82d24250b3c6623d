// Random configurations built from real keywords, values and stray bytes:
// the loader must finish, and its diagnostics must stay consistent.

import XCTest

@testable import TaglineConfig

/// SplitMix64, so that a failing input can be reproduced from its seed.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

final class FuzzTests: XCTestCase {
    private let vocabulary = [
        "crypto", "ikev2", "ipsec", "map", "proposal", "policy", "keyring", "profile", "peer",
        "address", "pre-shared-key", "match", "identity", "remote", "local", "authentication",
        "pre-share", "transform-set", "esp-aes", "esp-gcm", "esp-sha-hmac", "256", "128", "set",
        "pfs", "group14", "interface", "ip", "ipv6", "route", "access-list", "extended", "permit",
        "deny", "host", "any", "eq", "range", "cts", "role-based", "sgt-map", "sgt", "tunnel",
        "source", "destination", "mode", "protection", "no", "shutdown", "line", "vty", "banner",
        "motd", "^C", "#", "end", "exit", "!", "0.0.0.0", "255.255.255.0", "0.0.0.255",
        "192.0.2.1", "198.51.100.0", "2001:db8::/32", "2001:db8::1", "10", "0", "65535",
        "70000", "99999999999999999999", "-1", "cmap", "ts", "lab", "in0", "out0",
        "lifetime", "seconds", "kilobytes", "dpd", "virtual-template", "type", "secondary",
        "dynamic-map", "dynamic", "ipsec-isakmp", "dmap",
    ]

    func testRandomConfigurationsNeverCrash() {
        for seed in UInt64(1)...300 {
            var generator = SeededGenerator(state: seed)
            let text = randomConfiguration(using: &generator)
            let lineCount = text.utf8.split(separator: 10, omittingEmptySubsequences: false).count
            let result = ConfigLoader.parse(text: text)

            let lines = result.diagnostics.map { $0.line }
            XCTAssertEqual(lines, lines.sorted(), "seed \(seed): diagnostics out of order")
            XCTAssertTrue(lines.allSatisfy { (1...lineCount).contains($0) }, "seed \(seed)")
            let ignored = result.lines(.ignored)
            XCTAssertEqual(Set(ignored).count, ignored.count, "seed \(seed): a line ignored twice")
        }
    }

    private func randomConfiguration(using generator: inout SeededGenerator) -> String {
        var lines: [String] = []
        for _ in 0..<Int.random(in: 1...60, using: &generator) {
            var words: [String] = []
            for _ in 0..<Int.random(in: 0...8, using: &generator) {
                if Int.random(in: 0..<40, using: &generator) == 0 {
                    let scalar = Unicode.Scalar(UInt8.random(in: 0...255, using: &generator))
                    words.append(String(Character(scalar)))
                } else {
                    words.append(vocabulary.randomElement(using: &generator)!)
                }
            }
            let indent = Bool.random(using: &generator) ? " " : ""
            lines.append(indent + words.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}
