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

extension Array where Element == PlanSelector {
    /// Tells whether one of the selectors matches a packet's address, protocol and port, as
    /// `PlanSelector.matches` does. With `opaquePorts` (a packet whose protocol has ports that
    /// cannot be read, such as a non-initial fragment) only port-agnostic selectors match.
    /// The flag is tested once per call, not once per selector, to keep the packet path short.
    @inline(__always)
    func containsMatch(
        address: IPAddress, ipProtocol: UInt8, port: UInt16?, opaquePorts: Bool
    ) -> Bool {
        if opaquePorts {
            return contains {
                $0.isPortAgnostic && $0.matches(address: address, ipProtocol: ipProtocol, port: nil)
            }
        }
        return contains { $0.matches(address: address, ipProtocol: ipProtocol, port: port) }
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

    /// Checks a packet whose ports cannot be read against the SA's selectors, as
    /// `inboundSelectorsMatch` does, where only port-agnostic selectors match. It is kept out
    /// of line so that the check of packets with ports stays short.
    @inline(never)
    func opaquePortsSelectorsMatch(
        _ state: SAState, source: IPAddress, destination: IPAddress, ipProtocol: UInt8
    ) -> Bool {
        let remoteMatch = state.remoteSelectors.containsMatch(
            address: source, ipProtocol: ipProtocol, port: nil, opaquePorts: true)
        guard remoteMatch else { return false }
        return state.localSelectors.containsMatch(
            address: destination, ipProtocol: ipProtocol, port: nil, opaquePorts: true)
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
        matches(address: address, ipProtocol: ipProtocol, port: nil)
    }
}
