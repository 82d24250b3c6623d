// Packets whose ports the SPD cannot read. A non-initial fragment of a TCP,
// UDP or SCTP datagram carries no transport header, so its ports are OPAQUE
// (RFC 4301 §4.4.1.1). RFC 4301 §7.1 and §7.2 let such a fragment use only an
// SA whose port selectors are ANY or OPAQUE, because an SA limited to some
// ports would otherwise carry fragments of traffic on every other port.
// Initial fragments carry the ports and match as whole packets.

import TaglineCore

extension IPProtocolNumber {
    /// Tells whether `ipProtocol` puts a source and destination port in the first four bytes
    /// of its header, which the SPD matches against port selectors.
    @inline(__always)
    static func hasPorts(_ ipProtocol: UInt8) -> Bool {
        ipProtocol == tcp || ipProtocol == udp || ipProtocol == sctp
    }
}

extension PlanSelector {
    /// Tells whether the selector accepts any port: the range 0-65535 (ANY), or start 65535
    /// and end 0, the OPAQUE form of RFC 7296 §3.13.1.
    var isPortAgnostic: Bool {
        (startPort == 0 && endPort == 65535) || (startPort == 65535 && endPort == 0)
    }
}

extension SATable {
    /// Returns the reason to count when `outboundSA` found no SA for a packet: a packet
    /// without readable ports that only port-limited SAs would carry counts under
    /// `nonInitialFragmentPortLimited`, any other packet under `noPolicy`.
    func outboundMissReason(for info: IPPacketInfo) -> DropReason {
        guard info.ports == nil, IPProtocolNumber.hasPorts(info.ipProtocol) else {
            return .noPolicy
        }
        let portLimitedMatch = outbound.contains { state in
            state.localSelectors.contains {
                $0.matchesIgnoringPorts(address: info.source, ipProtocol: info.ipProtocol)
            }
                && state.remoteSelectors.contains {
                    $0.matchesIgnoringPorts(address: info.destination, ipProtocol: info.ipProtocol)
                }
        }
        return portLimitedMatch ? .nonInitialFragmentPortLimited : .noPolicy
    }

    /// Returns the reason to count when a decrypted packet failed `inboundSelectorsMatch`:
    /// `nonInitialFragmentPortLimited` when only the rule for packets without readable ports
    /// rejected it, `policyMismatch` otherwise.
    func inboundMismatchReason(_ state: SAState, info: IPPacketInfo) -> DropReason {
        guard info.ports == nil, IPProtocolNumber.hasPorts(info.ipProtocol) else {
            return .policyMismatch
        }
        let remoteMatch = state.remoteSelectors.contains {
            $0.matchesIgnoringPorts(address: info.source, ipProtocol: info.ipProtocol)
        }
        let localMatch = state.localSelectors.contains {
            $0.matchesIgnoringPorts(address: info.destination, ipProtocol: info.ipProtocol)
        }
        return remoteMatch && localMatch ? .nonInitialFragmentPortLimited : .policyMismatch
    }
}

extension PlanSelector {
    /// Matches the address and protocol only, without the rule for packets whose ports
    /// cannot be read.
    fileprivate func matchesIgnoringPorts(address: IPAddress, ipProtocol: UInt8) -> Bool {
        matches(address: address, ipProtocol: ipProtocol, port: nil, opaquePorts: false)
    }
}
