// Dynamic crypto maps: the `crypto map NAME SEQ ipsec-isakmp dynamic DYNMAP`
// line, the completeness check of `crypto dynamic-map` entries, and the
// expansion of each reference into copies of the dynamic map's entries once
// the whole file has been read. The `crypto dynamic-map` block itself is parsed
// with the crypto map commands in ConfigParser+IPsec.swift.

import TaglineCore

extension ConfigParser {
    /// `crypto map NAME SEQ ipsec-isakmp dynamic DYNMAP`: stores a placeholder entry
    /// whose `dynamicMapName` is DYNMAP, which `expandDynamicMaps` replaces. The line
    /// opens no sub-mode, so a following `set` line is an unknown global command.
    mutating func addDynamicMapReference(_ line: ConfigLine, map mapName: String, sequence: Int)
        throws -> CommandResult
    {
        let dynamicName = try name(line, 6, "dynamic map name")
        try requireEnd(line, 7)
        var entries = config.cryptoMaps[mapName] ?? []
        if let existing = entries.first(where: { $0.sequence == sequence }) {
            guard let existingName = existing.dynamicMapName else {
                throw ConfigLineError(
                    "crypto map \(mapName) \(sequence) is already a static entry "
                        + "at line \(existing.line) (choose another sequence number)")
            }
            guard existingName == dynamicName else {
                throw ConfigLineError(
                    "crypto map \(mapName) \(sequence) already refers to dynamic map "
                        + "\(existingName) at line \(existing.line) "
                        + "(choose another sequence number)")
            }
            mode = .global
            return .applied
        }

        var entry = CryptoMapEntry(mapName: mapName, sequence: sequence, line: line.number)
        entry.dynamicMapName = dynamicName
        let position = entries.firstIndex { $0.sequence > sequence } ?? entries.count
        entries.insert(entry, at: position)
        config.cryptoMaps[mapName] = entries
        // `expandDynamicMaps` drops the placeholder when the dynamic map is missing.
        addReference(.dynamicMap, dynamicName, line) { _ in }
        mode = .global
        return .applied
    }

    /// Reports and removes dynamic map entries without a transform set or an ACL,
    /// and rejects a dynamic map that has no complete entry left.
    mutating func checkDynamicMaps() {
        for name in config.dynamicMaps.keys.sorted() {
            var completeEntries: [CryptoMapEntry] = []
            for entry in config.dynamicMaps[name] ?? [] {
                let reason: String
                if entry.transformSetNames.isEmpty {
                    reason = "no transform set"
                } else if entry.accessListName == nil {
                    // TODO: accept no ACL here. IOS then takes the selectors the peer proposes.
                    reason = "no 'match address' (Tagline needs an access list here)"
                } else {
                    completeEntries.append(entry)
                    continue
                }
                addIncomplete(.dynamicMap, "\(name) \(entry.sequence)", line: entry.line, reason)
            }
            if completeEntries.isEmpty {
                let firstLine = config.dynamicMaps[name]?.first?.line ?? 0
                config.dynamicMaps[name] = nil
                markRejected(.dynamicMap, name, line: firstLine)
            } else {
                config.dynamicMaps[name] = completeEntries
            }
        }
    }

    /// Replaces each `ipsec-isakmp dynamic DYNMAP` placeholder with copies of the
    /// entries of DYNMAP, and moves the dynamic entries after the static ones.
    ///
    /// A placeholder whose dynamic map is missing or rejected is dropped, because the
    /// reference check has already reported it. A crypto map left without entries is
    /// removed and counts as rejected at the line of its first placeholder.
    mutating func expandDynamicMaps() {
        for name in config.cryptoMaps.keys.sorted() {
            guard let entries = config.cryptoMaps[name], entries.contains(where: { $0.isDynamic })
            else { continue }
            var staticEntries: [CryptoMapEntry] = []
            var dynamicEntries: [CryptoMapEntry] = []
            for entry in entries {
                guard let dynamicName = entry.dynamicMapName else {
                    staticEntries.append(entry)
                    continue
                }
                for source in config.dynamicMaps[dynamicName] ?? [] {
                    var copy = source
                    copy.mapName = name
                    copy.sequence = entry.sequence
                    copy.dynamicMapName = dynamicName
                    copy.dynamicMapSequence = source.sequence
                    dynamicEntries.append(copy)
                }
            }

            // Both lists keep the sequence order of `entries` and of each dynamic map.
            let expanded = staticEntries + dynamicEntries
            if expanded.isEmpty {
                let firstLine = entries.first?.line ?? 0
                config.cryptoMaps[name] = nil
                markRejected(.cryptoMap, name, line: firstLine)
            } else {
                config.cryptoMaps[name] = expanded
            }
        }
    }
}
