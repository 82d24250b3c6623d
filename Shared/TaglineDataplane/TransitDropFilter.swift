// A tc ingress filter on the inside interface that drops the kernel's copy
// of each transit packet. The ring's ETH_P_ALL tap has already handed the
// packet to the dataplane, which carries it. With forwarding off, the kernel
// still runs its input routing on that copy: a route lookup, and a route
// entry allocated and freed. Then it drops the packet. In the 1400-byte ESP
// benchmark that cost 1-3 % of the gateway's CPU (a hand-made A/B).
//
// The filter passes what the kernel takes for this host: the destinations
// of its local, broadcast and anycast routes in any table (the gateway's
// addresses on every interface and in every VRF, subnet broadcasts,
// 127.0.0.0/8), all IPv4 multicast and broadcast
// (224.0.0.0 and up) and all IPv6 multicast (ff00::/8). It matches only
// IPv4 and IPv6, so ARP passes. Neighbour discovery goes to multicast or to
// a local address, so it passes too. A program has room for 665 IPv4 or 221
// IPv6 host addresses (tc's limit). With more, that family is not filtered.
// An update that fails removes that family's old program, because the old
// one would drop packets to the new addresses.
//
// The local routes are read with the other kernel tables, once a second. An
// address added in between is unreachable from the inside until the next
// read. The dataplane, too, treats it as transit until then. A stopping
// dataplane removes the filter. After a SIGKILL the filter stays until the
// next start replaces its programs, or `tc qdisc del dev IF clsact` removes
// it by hand.

import TaglineCore

/// The transit drop filter of one interface, kept in step with the kernel's local routes.
public final class TransitDropFilter {
    public let interface: String
    /// The local destinations the installed programs pass. Nil until `install` succeeds, and
    /// again after an update fails.
    public private(set) var installedPrefixes: Set<IPPrefix>?
    /// Whether the interface is known to have the clsact qdisc. False before `install` and
    /// after a failed update, because the interface may have been created again without it.
    private var qdiscPresent = false

    public init(interface: String) {
        self.interface = interface
    }

    /// Adds the clsact qdisc to the interface unless it has one, and replaces the filters
    /// there with those for `localPrefixes`. Returns the commands run.
    @discardableResult
    public func install(localPrefixes: Set<IPPrefix>) throws -> [String] {
        // A clsact left by a crashed run is kept. Its programs have the same priority and
        // handle, so they are replaced, never doubled.
        installedPrefixes = nil
        qdiscPresent = false
        return try update(localPrefixes: localPrefixes)
    }

    /// Forgets the installed programs after the interface was deleted and created again,
    /// so that the next `update` installs them on the new one even for the same prefixes.
    public func interfaceRecreated() {
        installedPrefixes = nil
        qdiscPresent = false
    }

    /// Replaces both programs when `localPrefixes` differ from those installed. Each
    /// replacement is one step, so no packet meets a half-built filter. Returns the commands
    /// run (with each program given by its length) and a line for each family left without
    /// a filter, or nothing when nothing changed. A failed update is tried again by the
    /// next call, even for the same prefixes.
    @discardableResult
    public func update(localPrefixes: Set<IPPrefix>) throws -> [String] {
        guard localPrefixes != installedPrefixes else { return [] }
        installedPrefixes = nil
        var lines: [String] = []
        if !qdiscPresent, let command = KernelPacketGuard.addClsact(interface: interface) {
            lines.append(command)
        }
        do {
            try KernelPacketGuard.checkPrioritiesFree(interface: interface)
        } catch {
            // The interface may be gone, and one created again has no qdisc.
            qdiscPresent = false
            throw error
        }
        let sorted = localPrefixes.sorted()
        for family in [Family.ipv4, .ipv6] {
            let prefixes = sorted.filter { $0.address.isIPv4 == (family == .ipv4) }
            let selector = [
                "filter", "replace", "dev", interface, "ingress", "protocol", family.tcName,
                "prio", family.priority, "handle", "1", "bpf",
            ]
            // Without a filter the kernel routes and drops transit packets itself.
            let delete = KernelPacketGuard.ownFilterDelete(
                interface: interface, family.tcName, family.priority)
            if let program = TransitDropFilter.program(family, localPrefixes: prefixes) {
                // The log shows the program's length, not its text of up to about 36 KB.
                let count = program.prefix { $0 != "," }
                let summary = (["tc"] + selector + ["bytecode", "(\(count) instructions)", "da"])
                    .joined(separator: " ")
                do {
                    _ = try KernelPacketGuard.runTC(selector + ["bytecode", program, "da"])
                    lines.append(summary)
                } catch {
                    // The old program would drop packets to the new local destinations, so
                    // it goes until a later call installs the new one.
                    _ = try? KernelPacketGuard.runTC(delete)
                    qdiscPresent = false
                    if case KernelPacketGuard.GuardError.commandFailed(_, let status) = error {
                        throw KernelPacketGuard.GuardError.commandFailed(summary, status: status)
                    }
                    throw error
                }
            } else {
                _ = try? KernelPacketGuard.runTC(delete)
                lines.append(
                    "no \(family.tcName) transit filter on \(interface): \(prefixes.count) "
                        + "local destinations exceed one program")
            }
        }
        qdiscPresent = true
        installedPrefixes = localPrefixes
        return lines
    }

    // MARK: Programs

    enum Family {
        case ipv4, ipv6

        var tcName: String { self == .ipv4 ? "ip" : "ipv6" }
        var priority: String { self == .ipv4 ? "1" : "2" }
        /// Offset of the destination address, after the 14-byte Ethernet header.
        var destinationOffset: UInt32 { self == .ipv4 ? 14 + 16 : 14 + 24 }
    }

    /// One classic BPF instruction (struct sock_filter).
    struct Instruction: Equatable {
        var code: UInt16
        var jumpTrue: UInt8 = 0
        var jumpFalse: UInt8 = 0
        var k: UInt32 = 0
    }

    // Opcodes of linux/filter.h.
    static let loadWord: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
    static let loadByte: UInt16 = 0x30  // BPF_LD | BPF_B | BPF_ABS
    static let andConstant: UInt16 = 0x54  // BPF_ALU | BPF_AND | BPF_K
    static let jumpEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
    static let jumpAtLeast: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
    static let returnConstant: UInt16 = 0x06  // BPF_RET | BPF_K
    /// TC_ACT_UNSPEC (-1): the packet goes on to the kernel.
    static let pass: UInt32 = 0xFFFF_FFFF
    /// TC_ACT_SHOT.
    static let drop: UInt32 = 2
    /// The maximum program length tc accepts. The kernel accepts BPF_MAXINSNS (4096), but tc
    /// (iproute2 6.1) builds its request in 16384 bytes at 8 bytes an instruction. At 2040 it
    /// drops the `da` flag and still exits with 0, and at 2100 it fails (measured).
    static let maximumInstructions = 2000

    /// Builds the instructions for `family`: multicast continues, then each of
    /// `localPrefixes` continues, and everything else is dropped. A jump skips at most the
    /// 12 instructions of one prefix, which fits the 8-bit jump offsets of classic BPF.
    static func instructions(_ family: Family, localPrefixes: [IPPrefix]) -> [Instruction] {
        let destination = family.destinationOffset
        var code: [Instruction]
        switch family {
        case .ipv4:
            code = [
                Instruction(code: loadWord, k: destination),
                Instruction(code: jumpAtLeast, jumpFalse: 1, k: 0xE000_0000),
                Instruction(code: returnConstant, k: pass),
            ]
        case .ipv6:
            code = [
                Instruction(code: loadByte, k: destination),
                Instruction(code: jumpEqual, jumpFalse: 1, k: 0xFF),
                Instruction(code: returnConstant, k: pass),
            ]
        }
        for prefix in localPrefixes {
            // Compare word by word. Any mismatch jumps past this prefix's return.
            var entry: [Instruction] = []
            for (index, word) in words(of: prefix).enumerated() where word.mask != 0 {
                entry.append(Instruction(code: loadWord, k: destination + UInt32(index) * 4))
                if word.mask != 0xFFFF_FFFF {
                    entry.append(Instruction(code: andConstant, k: word.mask))
                }
                entry.append(Instruction(code: jumpEqual, k: word.value & word.mask))
            }
            entry.append(Instruction(code: returnConstant, k: pass))
            for index in entry.indices where entry[index].code == jumpEqual {
                entry[index].jumpFalse = UInt8(entry.count - 1 - index)
            }
            code += entry
        }
        code.append(Instruction(code: returnConstant, k: drop))
        return code
    }

    /// Returns the program in tc's `bytecode` form ("count,code jt jf k,..."), or nil when
    /// it would exceed `maximumInstructions`.
    static func program(_ family: Family, localPrefixes: [IPPrefix]) -> String? {
        let code = instructions(family, localPrefixes: localPrefixes)
        guard code.count <= maximumInstructions else { return nil }
        let text = code.map { "\($0.code) \($0.jumpTrue) \($0.jumpFalse) \($0.k)" }
        return "\(code.count)," + text.joined(separator: ",")
    }

    /// Splits `prefix` into 32-bit words as classic BPF loads them (network order), each
    /// with the mask of the bits the prefix covers.
    static func words(of prefix: IPPrefix) -> [(value: UInt32, mask: UInt32)] {
        let values: [UInt32]
        switch prefix.address {
        case .v4(let address): values = [address]
        case .v6(let high, let low):
            values = [high >> 32, high, low >> 32, low].map { UInt32(truncatingIfNeeded: $0) }
        }
        return values.enumerated().map { index, value in
            let bits = min(max(prefix.length - index * 32, 0), 32)
            let mask: UInt32 = bits == 0 ? 0 : ~0 << (32 - bits)
            return (value, mask)
        }
    }
}
