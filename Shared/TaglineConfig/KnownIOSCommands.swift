// IOS commands that Tagline recognises but does not implement, by command family.
//
// Within a family that Tagline implements (crypto ikev2, crypto ipsec, crypto map,
// crypto dynamic-map, ip access-list, access-list, cts role-based, ip route and the
// interface sub-commands), a keyword decides how a line is reported:
// - an implemented keyword is parsed;
// - a keyword listed here is a real IOS command, and the line is reported as ignored;
// - any other keyword is an error ("unknown command"), because it is most likely a
//   typo of an implemented command that would otherwise vanish without a word;
// - a line that stops before the keyword is an error ("incomplete command").
// Outside these families, a first word from `global` marks a known IOS command
// that is ignored, and any other first word is an error.
//
// NOTE: the lists name common IOS and IOS XE commands and are not complete. A real
// command missing here is reported as unknown and belongs in the list.

/// Known IOS keywords that Tagline ignores, one set per family and position.
enum KnownIOSCommands {
    /// First words of global commands outside the implemented families. `crypto`,
    /// `cts`, `ip`, `ipv6`, `access-list` and `no` are classified word by word.
    static let global: Set<String> = [
        "aaa", "access-session", "alias", "application", "archive", "authentication", "auto",
        "autoinstall", "bfd", "boot", "boot-end-marker", "boot-start-marker", "bridge",
        "call-home", "card", "ccm-manager", "cdp", "chat-script", "class-map", "clock",
        "config-register", "control-plane", "controller", "default", "device-tracking",
        "diagnostic", "dial-peer", "dialer", "dialer-list", "dot1x", "dspfarm", "enable",
        "energywise", "ephone", "ephone-dn", "epm", "errdisable", "ethernet", "event",
        "exception", "file", "flow", "ftp", "gatekeeper", "gateway", "hostname", "hw-module",
        "isdn", "key", "kron", "l2tp-class", "license", "line", "lldp", "logging", "login",
        "mac", "mac-address-table", "macro", "management", "memory", "memory-size", "mgcp",
        "mls", "mmi", "monitor", "mpls", "multilink", "netconf", "ntp", "object-group",
        "parameter-map", "parser", "platform", "pnp", "policy-map", "port-channel", "power",
        "privilege", "process", "pseudowire-class", "qos", "radius", "radius-server",
        "redundancy", "restconf", "rmon", "route-map", "router", "sccp", "scheduler", "sdm",
        "security", "segment-routing", "service", "shell", "sip-ua", "snmp", "snmp-server",
        "sntp", "spanning-tree", "stcapp", "subscriber", "switch", "system", "tacacs",
        "tacacs-server", "telephony-service", "template", "tftp-server", "track",
        "transceiver", "udld", "username", "version", "vlan", "voice", "voice-card", "vpdn",
        "vrf", "vstack", "vtp", "wsma", "zone", "zone-pair",
    ]

    // MARK: - crypto

    /// `crypto WORD` other than ikev2, ipsec, map and dynamic-map. Includes IKEv1
    /// (`crypto isakmp`, `crypto keyring`) and certificates (`crypto pki`, `crypto ca`).
    static let crypto: Set<String> = [
        "ca", "call", "ctcp", "engine", "gdoi", "identity", "isakmp", "key", "keyring",
        "logging", "mib", "pki", "provisioning", "ssl", "vpn", "webvpn", "wui",
    ]

    /// `crypto ikev2 WORD` other than proposal, policy, keyring, profile, cts,
    /// cookie-challenge and fragmentation.
    static let cryptoIKEv2: Set<String> = [
        "authorization", "certificate-cache", "client", "cluster", "diagnose",
        "disconnect-revoked-peers", "dpd", "http-url", "limit", "name-mangler", "nat",
        "redirect", "window",
    ]

    /// `crypto ipsec WORD` other than transform-set, profile, security-association
    /// and Tagline's inline-tagging and esn.
    static let cryptoIPsec: Set<String> = [
        "client", "df-bit", "fragmentation", "ipv4-deny", "ipv6-deny", "nat-transparency",
        "optional",
    ]

    /// `crypto ipsec security-association WORD` other than lifetime and replay; `set
    /// security-association WORD` in crypto map entries and IPsec profiles takes the same.
    static let securityAssociation: Set<String> = [
        "dummy", "ecn", "idle-time", "inbound", "level", "multi-sn", "outbound", "replay",
    ]

    /// `crypto map NAME WORD`: options of a whole map rather than of one entry.
    static let cryptoMapOptions: Set<String> = [
        "client", "gdoi", "isakmp", "isakmp-profile", "local-address", "redundancy",
    ]

    /// `crypto map NAME SEQ WORD` entry types other than ipsec-isakmp.
    static let cryptoMapEntryTypes: Set<String> = ["gdoi", "ipsec-manual"]

    /// `set WORD` in crypto map entries and IPsec profiles other than peer,
    /// transform-set, ikev2-profile, pfs and security-association.
    static let set: Set<String> = [
        "default", "identity", "inject", "ip", "isakmp-profile", "mixed-mode", "nat",
        "reverse-route", "security-policy", "tunnel",
    ]

    // MARK: - cts, access lists, routes

    /// `cts WORD` other than role-based. `manual` and `dot1x` are interface commands,
    /// listed so that they stay ignored inside a block that Tagline skips.
    static let cts: Set<String> = [
        "authorization", "cache", "credentials", "dot1x", "logging", "manual", "policy",
        "server", "sgt", "sxp",
    ]

    /// `cts role-based WORD` other than sgt-map.
    static let ctsRoleBased: Set<String> = [
        "enforcement", "l2-vrf", "monitor", "permissions", "sgt-caching",
    ]

    /// `ip access-list WORD` other than extended.
    static let ipAccessList: Set<String> = [
        "logging", "log-update", "match-local-traffic", "persistent", "resequence",
        "role-based", "standard",
    ]

    /// `access-list WORD` that is not a number.
    static let accessList: Set<String> = ["compiled", "dynamic-extended", "rate-limit"]

    /// `ip route WORD` and `ipv6 route WORD` forms that are not a plain static route.
    static let route: Set<String> = ["profile", "static", "vrf"]

    /// Second words of global `ip` commands. Only an `ip` line in interface mode
    /// uses them, to tell a global command at column 0 from a mistyped interface
    /// command. In global mode every `ip` command other than access-list and route
    /// is ignored.
    static let globalIP: Set<String> = [
        "admission", "arp", "as-path", "audit", "auth-proxy", "bgp-community", "bootp",
        "cef", "classless", "community-list", "default-gateway", "default-network", "device",
        "dhcp", "dns", "domain", "domain-list", "domain-lookup", "domain-name",
        "explicit-path", "extcommunity-list", "finger", "flow-cache", "flow-export",
        "flow-top-talkers", "forward-protocol", "ftp", "gratuitous-arps", "host", "http",
        "icmp", "igmp", "inspect", "ips", "local", "mfib", "multicast", "multicast-routing",
        "name-server", "nat", "nbar", "options", "pim", "port-map", "prefix-list", "radius",
        "rcmd", "routing", "rsvp", "scp", "sla", "source-route", "ssh", "subnet-zero",
        "tacacs", "tcp", "telnet", "tftp", "vrf", "wccp",
    ]

    /// Second words of global `ipv6` commands, used like `globalIP`.
    static let globalIPv6: Set<String> = [
        "cef", "dhcp", "general-prefix", "host", "icmp", "local", "multicast-routing",
        "nd", "neighbor", "prefix-list", "router", "source-route", "unicast-routing",
    ]

    // MARK: - Interface sub-commands

    /// First words of interface sub-commands. `ip`, `ipv6`, `tunnel`, `crypto` and
    /// `cts` are classified by their second word because some of their forms are
    /// implemented and others belong to global mode.
    static let interface: Set<String> = [
        "arp", "atm", "authentication", "auto", "autostate", "bandwidth", "bfd", "bridge-domain",
        "bridge-group", "carrier-delay", "cdp", "channel-group", "channel-protocol", "clns",
        "clock", "compress", "custom-queue-list", "default", "delay", "device-tracking",
        "dialer", "dialer-group", "dot1q", "dot1x", "duplex", "encapsulation", "ethernet",
        "fair-queue", "flowcontrol", "frame-relay", "glbp", "hold-queue", "isis", "keepalive",
        "l2protocol-tunnel", "lacp", "lldp", "load-interval", "logging", "mab", "mac",
        "mac-address", "macro", "mdix", "media-type", "mka", "mls", "mop", "mpls", "mtu",
        "multilink", "nameif", "nat64", "negotiation", "ntp", "ospfv3", "pagp", "peer",
        "platform", "power", "ppp", "pppoe", "pppoe-client", "priority-queue", "qos",
        "random-detect", "rate-limit", "rewrite", "rmon", "service", "service-policy", "shape",
        "snmp", "source", "spanning-tree", "speed", "srr-queue", "standby", "storm-control",
        "switchport", "timeout", "traffic-shape", "trust", "tx-ring-limit", "udld", "vrf",
        "vrrp", "vtp", "xconnect", "zone-member",
    ]

    /// Second words of interface `ip` commands other than `address` and `unnumbered`.
    static let interfaceIP: Set<String> = [
        "access-group", "accounting", "admission", "arp", "authentication",
        "bandwidth-percent", "broadcast-address", "cgmp", "ddns", "device", "dhcp",
        "directed-broadcast", "dvmrp", "flow", "header-compression", "hello-interval",
        "helper-address", "hold-time", "igmp", "information-reply", "inspect", "ips", "irdp",
        "lisp", "load-sharing", "local-proxy-arp", "mask-reply", "mobile", "mroute-cache",
        "mtu", "multicast", "nat", "nbar", "next-hop-self", "nhrp", "ospf", "pim", "policy",
        "probe", "proxy-arp", "redirects", "rip", "route-cache", "router", "rsvp", "rtp",
        "sap", "security", "split-horizon", "sticky-arp", "subscriber", "summary-address",
        "tcp", "unreachables", "urd", "verify", "virtual-reassembly", "vrf", "wccp",
    ]

    /// Second words of interface `ipv6` commands other than `address`.
    static let interfaceIPv6: Set<String> = [
        "cef", "dhcp", "eigrp", "enable", "flow", "mld", "mtu", "nat", "nd", "ospf", "pim",
        "policy", "redirects", "rip", "router", "tcp", "traffic-filter", "unnumbered",
        "unreachables", "verify", "virtual-reassembly",
    ]

    /// Second words of interface `crypto` commands other than `map`.
    static let interfaceCrypto: Set<String> = ["engine", "ipsec", "ssl"]

    /// Second words of `tunnel` commands other than source, destination, mode and protection.
    static let tunnel: Set<String> = [
        "bandwidth", "checksum", "endpoint", "key", "path-mtu-discovery", "rbscp", "route-via",
        "sequence-datagrams", "tos", "ttl", "udlr", "vrf",
    ]

    /// `tunnel mode WORD` other than ipsec.
    static let tunnelMode: Set<String> = [
        "aurp", "cayman", "dvmrp", "eon", "ethernet", "gre", "ipip", "iptalk", "ipv6",
        "ipv6ip", "l2tp", "mpls", "nos", "udp", "vxlan",
    ]

    /// `tunnel mode ipsec WORD` other than ipv4 and ipv6.
    static let tunnelModeIPsec: Set<String> = ["dual-overlay"]

    // MARK: - ikev2 sub-modes

    /// `identity WORD` in a keyring peer other than address.
    static let peerIdentity: Set<String> = ["email", "fqdn", "key-id"]

    /// `identity local WORD` in an ikev2 profile other than address.
    static let profileLocalIdentity: Set<String> = ["dn", "email", "fqdn", "key-id"]
}

extension ConfigLineError {
    /// "incomplete command", as IOS reports a command cut short, with the keywords
    /// that Tagline implements after `command`.
    static func incomplete(_ command: String, expected: [String]) -> ConfigLineError {
        ConfigLineError(
            "incomplete command '\(command)' (expected \(alternatives(expected)) after it)")
    }

    /// "unknown command" for a keyword that is neither implemented nor a known IOS
    /// command after `command`.
    static func unknown(_ word: String, after command: String, expected: [String])
        -> ConfigLineError
    {
        ConfigLineError(
            "unknown command '\(command) \(word)' "
                + "(expected \(alternatives(expected)) after '\(command)')")
    }

    /// "a, b or c".
    private static func alternatives(_ words: [String]) -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " or " + words[words.count - 1]
    }
}
