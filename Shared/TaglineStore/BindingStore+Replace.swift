// Replacing every binding of one source at once, in the SQLite file and in the
// in-memory table together: the configuration's CLI bindings and the gateway's
// INTERNAL ones are both rebuilt from the configuration file on each reload.

import TaglineCore

/// The outcome of `BindingStore.replace(source:with:in:)`.
public struct SourceReplacement: Sendable {
    /// Changes of effective bindings, in the order they happened.
    public var changes: [EffectiveBindingChange]
    /// Prefixes of `source` that the new set no longer binds.
    public var removed: Int
}

extension BindingStore {
    /// Makes `bindings` the only bindings of `source`, in the store and in
    /// `table`. Prefixes of `source` left out are removed, so a lower-priority
    /// source bound there takes over again. The store commits first, and the
    /// table changes only when the commit succeeded.
    public func replace(
        source: BindingSource, with bindings: [SGTBinding], in table: inout BindingTable
    ) throws -> SourceReplacement {
        let current = try list(source: source)
        try replaceAll(source: source, with: bindings)
        let keptPrefixes = Set(bindings.map(\.prefix))
        var changes: [EffectiveBindingChange] = []
        var removed = 0
        for binding in current where !keptPrefixes.contains(binding.prefix) {
            if let change = table.remove(prefix: binding.prefix, source: source) {
                changes.append(change)
            }
            removed += 1
        }
        for binding in bindings {
            if let change = table.add(binding) { changes.append(change) }
        }
        return SourceReplacement(changes: changes, removed: removed)
    }
}
