// `cts sgt N`: the SGT of the gateway itself. cts-binding-store binds each
// interface address to it with source INTERNAL.

import TaglineCore

extension ConfigParser {
    /// `cts sgt N`.
    mutating func setDeviceSGT(_ line: ConfigLine) throws -> CommandResult {
        guard let text = line.word(2) else { throw ConfigLineError("missing SGT value") }
        // Int() accepts a leading plus sign, which IOS does not.
        guard !text.hasPrefix("+") else {
            throw ConfigLineError("SGT '\(text)' is not a plain decimal number (expected 1-65534)")
        }
        let sgt: SGT
        switch SGT.parse(text) {
        case .success(let value): sgt = value
        case .failure(let error): throw ConfigLineError(error.description)
        }
        try requireEnd(line, 3)
        if let earlier = config.deviceSGT, earlier != sgt {
            addWarning(line, "cts sgt \(sgt) replaces cts sgt \(earlier)")
        }
        config.deviceSGT = sgt
        return .applied
    }
}

extension GatewayConfig {
    /// The INTERNAL bindings: every interface address as a host prefix, bound to
    /// the device SGT. Empty without `cts sgt`. Addresses of shut interfaces count too.
    public var internalBindings: [(prefix: IPPrefix, sgt: SGT)] {
        guard let sgt = deviceSGT else { return [] }
        var seen = Set<IPPrefix>()
        var out: [(prefix: IPPrefix, sgt: SGT)] = []
        for name in interfaceOrder {
            guard let interface = interfaces[name] else { continue }
            for address in interface.ipv4Addresses + interface.ipv6Addresses {
                let prefix = IPPrefix(host: address.address)
                if seen.insert(prefix).inserted { out.append((prefix, sgt)) }
            }
        }
        return out
    }
}
