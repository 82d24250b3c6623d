// `show crypto ipsec sa [detail]`, laid out as IOS prints it, one block per
// Child SA pair grouped by interface, and the `--wireshark` esp_sa lines.

import TaglineCore

enum IPsecShow {
    /// Formats every SA pair; `now` (seconds since the Unix epoch) gives the
    /// remaining lifetime.
    static func format(_ reply: ChildSAListReply, detail: Bool, now: Double) -> String {
        var lines: [String] = []
        let sorted = reply.childSAs.sorted {
            ($0.childSA.interfaceName ?? "", $0.childSA.inboundSPI)
                < ($1.childSA.interfaceName ?? "", $1.childSA.inboundSPI)
        }
        var currentInterface: String?
        for status in sorted {
            let sa = status.childSA
            let interface = sa.interfaceName ?? "unknown"
            if interface != currentInterface {
                currentInterface = interface
                lines += ["", "interface: \(interface)"]
                lines.append(
                    "    Crypto map tag: \(sa.cryptoMapName ?? "(none)"), "
                        + "local addr \(sa.localAddress)"
                )
            }
            lines += block(status, detail: detail, now: now)
        }
        if lines.isEmpty { lines.append("No IPsec SAs") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func block(_ status: ChildSAStatus, detail: Bool, now: Double) -> [String] {
        let sa = status.childSA
        let counters = status.counters
        let peerPort = sa.udpEncapsulation?.remotePort ?? 500
        var lines = [
            "",
            "   protected vrf: (none)",
            "   local  ident (addr/mask/prot/port): (\(identText(sa.localSelectors.first)))",
            "   remote ident (addr/mask/prot/port): (\(identText(sa.remoteSelectors.first)))",
            "   current_peer \(sa.remoteAddress) port \(peerPort)",
            "    #pkts encaps: \(counters.encaps), #pkts encrypt: \(counters.encrypt), "
                + "#pkts digest: \(counters.digest)",
            "    #pkts decaps: \(counters.decaps), #pkts decrypt: \(counters.decrypt), "
                + "#pkts verify: \(counters.verify)",
            "    #pkts compressed: 0, #pkts decompressed: 0",
            "    #pkts not compressed: 0, #pkts compr. failed: 0",
            "    #pkts not decompressed: 0, #pkts decompress failed: 0",
        ]
        if detail {
            lines += [
                "    #pkts no sa (send) 0, #pkts invalid sa (rcv) \(counters.invalidSA)",
                "    #pkts encaps failed (send) \(counters.encapsFailed), "
                    + "#pkts decaps failed (rcv) \(counters.decapsFailed)",
                "    #pkts invalid prot (recv) 0, #pkts verify failed: \(counters.verifyFailed)",
                "    #pkts invalid identity (recv) 0, "
                    + "#pkts invalid len (rcv) \(counters.invalidLength)",
                "    #pkts replay rollover (send): 0, #pkts replay rollover (rcv) 0",
                "    #pkts replay failed (rcv): \(counters.replayFailed)",
            ]
            if sa.usesExtendedSequenceNumbers {
                lines.append("    #esn resynchronizations (rcv): \(counters.esnResynchronizations)")
            }
        } else {
            lines.append(
                "    #send errors \(sendErrors(counters)), #recv errors \(receiveErrors(counters))")
        }
        lines += [
            "    #pkts tagged (send): \(counters.tagged), "
                + "#pkts untagged (rcv): \(counters.untagged)",
            "    #pkts not tagged (send): \(counters.notTagged), "
                + "#pkts not untagged (rcv): \(counters.notUntagged)",
            "    #pkts internal err (send): \(counters.internalErrorsSend), "
                + "#pkts internal err (rcv) \(counters.internalErrorsReceive)",
            "",
            "     local crypto endpt.: \(sa.localAddress), "
                + "remote crypto endpt.: \(sa.remoteAddress)",
        ]
        // The dataplane reports the MTUs; before its first report the line is left out.
        if let path = status.pathMTU {
            lines.append(
                "     path mtu \(path.pathMTU), ip mtu \(path.ipMTU), ip mtu idb \(path.interface)")
        }
        lines += [
            "     current outbound spi: \(spiText(sa.outboundSPI))",
            "",
            "     inbound esp sas:",
        ]
        lines += espSALines(sa, spi: sa.inboundSPI, counters: counters, now: now)
        lines += ["", "     inbound ah sas:", "", "     outbound esp sas:"]
        lines += espSALines(sa, spi: sa.outboundSPI, counters: counters, now: now)
        lines += ["", "     outbound ah sas:"]
        return lines
    }

    static func espSALines(_ sa: ChildSA, spi: UInt32, counters: SACounters, now: Double)
        -> [String]
    {
        let settings = sa.udpEncapsulation == nil ? "Tunnel, " : "Tunnel UDP-Encaps, "
        let elapsed = max(0, now - sa.installedAt)
        let remainingSeconds = max(0, Int(Double(sa.lifetimeSeconds) - elapsed))
        let usedKilobytes = (counters.bytesIn &+ counters.bytesOut) / 1024
        let remainingKilobytes =
            sa.lifetimeKilobytes > usedKilobytes ? sa.lifetimeKilobytes - usedKilobytes : 0
        var lines = [
            "      spi: \(spiText(spi))",
            "        transform: \(sa.transformDescription) ,",
            "        in use settings ={\(settings)}",
        ]
        if let map = sa.cryptoMapName { lines.append("        crypto map: \(map)") }
        lines += [
            "        sa timing: remaining key lifetime (k/sec): "
                + "(\(remainingKilobytes)/\(remainingSeconds))",
            "        IV size: \(sa.encryption.ivLength) bytes",
            "        replay detection support: Y",
            "        Status: ACTIVE(ACTIVE)",
        ]
        return lines
    }

    /// Errors IOS sums into `#send errors`.
    static func sendErrors(_ counters: SACounters) -> UInt64 {
        counters.encapsFailed &+ counters.internalErrorsSend
    }

    /// Errors IOS sums into `#recv errors`.
    static func receiveErrors(_ counters: SACounters) -> UInt64 {
        counters.decapsFailed &+ counters.verifyFailed &+ counters.replayFailed
            &+ counters.invalidSA &+ counters.invalidLength &+ counters.internalErrorsReceive
    }

    /// `0xC0FFEE01(3237998081)`.
    static func spiText(_ spi: UInt32) -> String {
        "\(hex32(spi))(\(spi))"
    }

    /// `0x` and 8 uppercase hex digits.
    static func hex32(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// `192.0.2.0/255.255.255.0/0/0`: address, mask (prefix length for
    /// IPv6), protocol, port (0 for a port range).
    static func identText(_ selector: TrafficSelector?) -> String {
        guard let selector else { return "0.0.0.0/0.0.0.0/0/0" }
        let port = selector.startPort == selector.endPort ? selector.startPort : 0
        let suffix = "/\(selector.ipProtocol)/\(port)"
        if let prefix = exactPrefix(selector) {
            let mask = prefix.address.isIPv4 ? prefix.netmask.description : String(prefix.length)
            return "\(prefix.address)/\(mask)\(suffix)"
        }
        return "\(selector.startAddress)-\(selector.endAddress)\(suffix)"
    }

    /// Returns the prefix whose range is exactly the selector's, if there is one.
    static func exactPrefix(_ selector: TrafficSelector) -> IPPrefix? {
        let start = selector.startAddress
        guard start.isIPv4 == selector.endAddress.isIPv4 else { return nil }
        for length in 0...start.bitWidth {
            let prefix = IPPrefix(covering: start, length: length)
            if prefix.address == start && prefix.range.upperBound == selector.endAddress {
                return prefix
            }
        }
        return nil
    }

    // MARK: Wireshark

    /// Wireshark `esp_sa` lines, two per SA pair (outbound then inbound),
    /// with the keys in hex so a capture can be decrypted.
    static func wiresharkLines(_ reply: ChildSAListReply) -> String {
        var lines: [String] = []
        for status in reply.childSAs.sorted(by: { $0.childSA.inboundSPI < $1.childSA.inboundSPI }) {
            let sa = status.childSA
            let family = sa.localAddress.isIPv4 ? "IPv4" : "IPv6"
            let directions = [
                (sa.localAddress, sa.remoteAddress, sa.outboundSPI, sa.outboundKeys),
                (sa.remoteAddress, sa.localAddress, sa.inboundSPI, sa.inboundKeys),
            ]
            for (source, destination, spi, keys) in directions {
                let fields = [
                    family, "\(source)", "\(destination)", hex32(spi).lowercased(),
                    wiresharkEncryption(sa.encryption), keyText(keys.encryptionKey),
                    wiresharkIntegrity(sa.integrity), keyText(keys.integrityKey),
                ]
                lines.append(fields.map { "\"\($0)\"" }.joined(separator: ","))
            }
        }
        return lines.map { $0 + "\n" }.joined()
    }

    private static func keyText(_ key: SecretBytes) -> String {
        key.bytes.isEmpty ? "" : "0x" + Hex.encode(key.bytes)
    }

    /// Encryption names as Wireshark's ESP preferences spell them. For GCM
    /// the key is followed by its 4-byte salt, as Wireshark expects, and
    /// ChaCha20-Poly1305 keys are printed the same way.
    static func wiresharkEncryption(_ algorithm: EncryptionAlgorithm) -> String {
        switch algorithm {
        case .null: return "NULL"
        case .tripleDES: return "TripleDES-CBC [RFC2451]"
        case .aesCBC128, .aesCBC192, .aesCBC256: return "AES-CBC [RFC3602]"
        case .aesGCM128, .aesGCM256: return "AES-GCM with 16 octet ICV [RFC4106]"
        // NOTE: Wireshark 4.0.17 (Debian 12) has no ChaCha20-Poly1305 entry in its
        // ESP SA table, so it cannot decrypt these SAs. Later releases use this name.
        case .chacha20Poly1305: return "ChaCha20 with Poly1305 [RFC7634]"
        }
    }

    /// Integrity names as Wireshark's ESP preferences spell them.
    static func wiresharkIntegrity(_ algorithm: IntegrityAlgorithm?) -> String {
        switch algorithm {
        case nil: return "NULL"
        case .hmacMD5_96: return "HMAC-MD5-96 [RFC2403]"
        case .hmacSHA1_96: return "HMAC-SHA-1-96 [RFC2404]"
        case .hmacSHA256_128: return "HMAC-SHA-256-128 [RFC4868]"
        }
    }
}
