// libFuzzer target for the IOS configuration parser. Each input is the bytes
// of one configuration file, as `ConfigLoader.load(path:)` would read them.
//
// Besides the parser, the harness formats every diagnostic and runs the
// `GatewayConfig` lookups, so one that traps on an accepted value shows up.

import TaglineConfig
import TaglineCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIOSConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let result = ConfigLoader.parse(bytes: bytes)

    var text = result.summary
    for diagnostic in result.diagnostics { text += diagnostic.description }
    describe(result.config, into: &text)
    if text.isEmpty { fatalError("empty description") }
    return 0
}

/// Runs the lookups the services run on a loaded configuration, so a lookup
/// that traps on some accepted configuration shows up as a crash.
private func describe(_ config: GatewayConfig, into text: inout String) {
    for entry in config.allCryptoMapEntries {
        text += "\(config.lifetime(of: entry))"
    }
    for name in config.cryptoMaps.keys {
        text += "\(config.interface(carryingCryptoMap: name) as Any)"
        text += "\(config.responderCryptoMapEntries(of: name).count)"
        text += "\(config.initiatorCryptoMapEntries(of: name).count)"
    }
    for profile in config.ipsecProfiles.values {
        text += "\(config.lifetime(of: profile))"
    }
    for interface in config.outsideInterfaces {
        text += "\(config.localAddress(of: interface, ipv4: true) as Any)"
        text += "\(config.localAddress(of: interface, ipv4: false) as Any)"
    }
    for interface in config.interfaces.values {
        for ipv4 in [true, false] {
            guard let address = config.localAddress(of: interface, ipv4: ipv4) else { continue }
            text += "\(config.interface(owning: address) as Any)"
            text += "\(config.proposals(forLocal: address).count)"
            text += "\(config.profile(matchingRemote: address) as Any)"
        }
    }
    for keyring in config.keyrings.keys {
        for address in sampleAddresses {
            text += "\(config.keyringPeer(for: address, in: keyring) as Any)"
        }
    }
    for address in sampleAddresses {
        text += "\(config.profile(matchingRemote: address) as Any)"
    }
    text += "\(config.bindings)"
}

/// Addresses looked up as remote peers. 198.51.100.2 and 2001:db8::2 are peers in the seeds.
private let sampleAddresses: [IPAddress] = [
    "198.51.100.2", "203.0.113.2", "192.0.2.1", "2001:db8::2",
].compactMap { IPAddress($0) }
