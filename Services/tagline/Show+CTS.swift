// `show cts role-based sgt-map all` and `show cts role-based sgt-map ADDRESS`,
// laid out as IOS prints them. IOS lists only the bindings in use; Tagline
// adds a section for the shadowed ones after the IOS summary.

import TaglineCore

enum CTSShow {
    static let rule = String(repeating: "=", count: 44)

    /// Formats the effective bindings, IPv4 then IPv6, the per-source summary,
    /// and then the shadowed bindings when there are any.
    static func formatAll(_ reply: BindingListReply) -> String {
        var lines: [String] = []
        let effective = reply.effective.sorted { $0.prefix < $1.prefix }
        let ipv4 = effective.filter { $0.prefix.address.isIPv4 }
        let ipv6 = effective.filter { !$0.prefix.address.isIPv4 }
        if !ipv4.isEmpty { lines += section("IPv4", ipv4) }
        if !ipv6.isEmpty { lines += section("IPv6", ipv6) }
        lines += ["IP-SGT Active Bindings Summary", rule]
        // Lowest priority first, as in the summaries of the IOS configuration guide.
        for source in BindingSource.allCases.sorted(by: >) {
            let count = effective.filter { $0.source == source }.count
            guard count > 0 else { continue }
            lines.append("Total number of \(pad(source.rawValue, 9))bindings = \(count)")
        }
        lines.append("Total number of active   bindings = \(effective.count)")
        lines += shadowedSection(reply)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Lists stored bindings that are not in use because a higher-priority
    /// source binds the same prefix, each with the binding in use instead.
    static func shadowedSection(_ reply: BindingListReply) -> [String] {
        let inUse = Dictionary(
            reply.effective.map { ($0.prefix, $0) }, uniquingKeysWith: { first, _ in first })
        let shadowed = reply.bindings.filter { inUse[$0.prefix] != $0 }.sorted {
            ($0.prefix, $0.source) < ($1.prefix, $1.source)
        }
        guard !shadowed.isEmpty else { return [] }
        var lines = [
            "", "Shadowed IP-SGT Bindings (not in use: a higher-priority source binds the prefix)",
            "", pad("IP Address", 24) + pad("SGT", 8) + pad("Source", 10) + "In use instead",
            String(repeating: "=", count: 60),
        ]
        for binding in shadowed {
            let winner = inUse[binding.prefix].map { "sgt \($0.sgt) (\($0.source.rawValue))" }
            lines.append(
                pad(prefixText(binding.prefix), 24) + pad(binding.sgt.description, 8)
                    + pad(binding.source.rawValue, 10) + (winner ?? "none"))
        }
        lines.append("Total number of shadowed bindings = \(shadowed.count)")
        return lines
    }

    /// Returns the source's name in the output of `cts role-based sgt-map add`.
    static func sourceAdjective(_ source: BindingSource) -> String {
        switch source {
        case .internal: return "INTERNAL (gateway address)"
        case .config: return "configured"
        case .api: return "API"
        case .sxp: return "SXP"
        }
    }

    /// Formats the result of a lookup for `address`.
    static func formatLookup(_ reply: BindingLookupReply, address: IPAddress) -> String {
        guard let binding = reply.binding else {
            return "No IP-SGT binding found for \(address)\n"
        }
        let family = binding.prefix.address.isIPv4 ? "IPv4" : "IPv6"
        return section(family, [binding]).joined(separator: "\n") + "\n"
    }

    static func section(_ family: String, _ bindings: [SGTBinding]) -> [String] {
        var lines = [
            "Active \(family)-SGT Bindings Information", "",
            pad("IP Address", 24) + pad("SGT", 8) + "Source", rule,
        ]
        for binding in bindings {
            lines.append(
                pad(prefixText(binding.prefix), 24) + pad(binding.sgt.description, 8)
                    + binding.source.rawValue)
        }
        lines.append("")
        return lines
    }

    /// Formats a prefix, printing a host prefix as the bare address as IOS does.
    static func prefixText(_ prefix: IPPrefix) -> String {
        prefix.length == prefix.address.bitWidth ? prefix.address.description : prefix.description
    }
}
