// `show crypto ikev2 sa [detailed]`, laid out as IOS prints it.

import TaglineCore

enum IKEShow {
    /// Formats the IPv4 and IPv6 sections of `show crypto ikev2 sa`.
    static func format(_ reply: IKESAListReply, detailed: Bool) -> String {
        var lines: [String] = []
        for (title, isIPv4) in [("IPv4", true), ("IPv6", false)] {
            lines.append(" \(title) Crypto IKEv2  SA ")
            lines.append("")
            let sas = reply.ikeSAs.filter { $0.localAddress.isIPv4 == isIPv4 }
                .sorted { $0.tunnelID < $1.tunnelID }
            guard !sas.isEmpty else { continue }
            lines.append(
                pad("Tunnel-id", 10) + pad("Local", 22) + pad("Remote", 22) + pad("fvrf/ivrf", 21)
                    + "Status ")
            for sa in sas {
                lines += saLines(sa, detailed: detailed)
                lines.append("")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func saLines(_ sa: IKESAStatus, detailed: Bool) -> [String] {
        let indent = "      "
        var lines = [
            pad(String(sa.tunnelID), 10) + pad("\(sa.localAddress)/\(sa.localPort)", 22)
                + pad("\(sa.remoteAddress)/\(sa.remotePort)", 22) + pad("none/none", 21)
                + pad(sa.status, 7),
            indent + "Encr: \(encryptionText(sa.encryption)), PRF: \(prfText(sa.prf)), "
                + "Hash: \(hashText(sa.integrity)), DH Grp:\(sa.dhGroup), "
                + "Auth sign: \(sa.authSign), Auth verify: \(sa.authVerify)",
            indent + "Life/Active Time: \(sa.lifetimeSeconds)/\(sa.activeSeconds) sec",
        ]
        guard detailed else { return lines }
        lines += [
            indent + "Status Description: \(statusDescription(sa.status))",
            indent + pad("Local spi: \(sa.localSPI)", 34) + "Remote spi: \(sa.remoteSPI)",
            indent + "Local id: \(sa.localID)",
            indent + "Remote id: \(sa.remoteID)",
            indent + pad("Local req msg id:  \(sa.localRequestMessageID)", 34)
                + "Remote req msg id:  \(sa.remoteRequestMessageID)",
            indent + pad("Local next msg id: \(sa.localNextMessageID)", 34)
                + "Remote next msg id: \(sa.remoteNextMessageID)",
            indent + "DPD configured for \(sa.dpdInterval ?? 0) seconds, retry \(sa.dpdRetry ?? 0)",
            indent + "NAT-T is \(sa.natDetected ? "detected" : "not detected")",
            indent + "Cisco Trust Security SGT is \(sa.sgtEnabled ? "enabled" : "disabled")",
            indent + "Initiator of SA : \(sa.isInitiator ? "Yes" : "No")",
        ]
        if !sa.childSAInboundSPIs.isEmpty {
            let spis = sa.childSAInboundSPIs.map(IPsecShow.spiText).joined(separator: ", ")
            lines.append(indent + "Child SA inbound SPIs: \(spis)")
        }
        return lines
    }

    /// IOS wording of the SA state.
    static func statusDescription(_ status: String) -> String {
        switch status.uppercased() {
        case "READY": return "Negotiation done"
        case "IN-NEG": return "Negotiation in progress"
        case "DELETE": return "Deleting IKE SA"
        default: return status
        }
    }

    /// `AES-CBC, keysize: 128` for an algorithm name such as "aes-cbc-128";
    /// other text is printed as the negotiator sent it.
    static func encryptionText(_ name: String) -> String {
        guard let algorithm = EncryptionAlgorithm(rawValue: name.lowercased()) else { return name }
        switch algorithm {
        case .tripleDES: return "3DES"
        case .null: return "NULL"
        case .aesCBC128, .aesCBC192, .aesCBC256:
            return "AES-CBC, keysize: \(algorithm.keyLengthAttribute ?? 0)"
        case .aesGCM128, .aesGCM256:
            return "AES-GCM, keysize: \(algorithm.keyLengthAttribute ?? 0)"
        // NOTE: no IOS output for ChaCha20-Poly1305 was available to copy, so
        // this spelling follows the AES entries.
        case .chacha20Poly1305:
            return "CHACHA20-POLY1305, keysize: 256"
        }
    }

    /// IOS names the PRF by its hash: MD5, SHA1, SHA256.
    static func prfText(_ name: String) -> String {
        guard let prf = PRFAlgorithm(rawValue: name.lowercased()) else { return name }
        switch prf {
        case .hmacMD5: return "MD5"
        case .hmacSHA1: return "SHA1"
        case .hmacSHA256: return "SHA256"
        }
    }

    /// IOS names the integrity algorithm by hash and truncation: MD596, SHA96,
    /// SHA256; an AEAD cipher has none.
    static func hashText(_ name: String) -> String {
        if name.isEmpty || name.lowercased() == "none" { return "None" }
        guard let integrity = IntegrityAlgorithm(rawValue: name.lowercased()) else { return name }
        switch integrity {
        case .hmacMD5_96: return "MD596"
        case .hmacSHA1_96: return "SHA96"
        case .hmacSHA256_128: return "SHA256"
        }
    }
}

/// Pads `text` with spaces to `width`, or adds one space when it is longer.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
