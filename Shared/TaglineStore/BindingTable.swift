// Every IP-SGT binding with its source, and the effective one per prefix.
// When several sources bind the same prefix, the source with the lowest
// `BindingSource.priority` wins (INTERNAL, then SXP, then CLI, then API).
// The others stay stored and take over when the winner goes away. Lookups match
// the longest effective prefix that contains the address.

import TaglineCore

/// A change of the effective binding of one prefix: `binding` is the new
/// winner, or nil when no source binds the prefix any more.
public struct EffectiveBindingChange: Equatable, Sendable {
    public var prefix: IPPrefix
    public var binding: SGTBinding?

    public init(prefix: IPPrefix, binding: SGTBinding?) {
        self.prefix = prefix
        self.binding = binding
    }
}

/// Bindings from all sources, resolved by source priority.
public struct BindingTable: Sendable {
    private var bySource: [IPPrefix: [BindingSource: SGT]] = [:]
    private var winners: [IPPrefix: SGTBinding] = [:]
    /// Stored bindings of each source, kept up to date by `add` and `remove`.
    public private(set) var countsBySource: [BindingSource: Int] = [:]

    public init(_ bindings: [SGTBinding] = []) {
        bySource.reserveCapacity(bindings.count)
        winners.reserveCapacity(bindings.count)
        for binding in bindings { add(binding) }
    }

    /// Adds or replaces the binding of `binding.source` for its prefix and
    /// returns the effective change, or nil when the winner stayed the same.
    @discardableResult
    public mutating func add(_ binding: SGTBinding) -> EffectiveBindingChange? {
        let previous = bySource[binding.prefix, default: [:]].updateValue(
            binding.sgt, forKey: binding.source)
        if previous == nil { countsBySource[binding.source, default: 0] += 1 }
        return resolve(binding.prefix)
    }

    /// Removes the binding of `source` for `prefix` and returns the effective
    /// change, or nil when the winner stayed the same (or nothing was bound).
    @discardableResult
    public mutating func remove(prefix: IPPrefix, source: BindingSource)
        -> EffectiveBindingChange?
    {
        guard bySource[prefix]?.removeValue(forKey: source) != nil else { return nil }
        countsBySource[source, default: 0] -= 1
        if countsBySource[source] == 0 { countsBySource[source] = nil }
        if bySource[prefix]?.isEmpty == true { bySource[prefix] = nil }
        return resolve(prefix)
    }

    /// Recomputes the winner of `prefix`.
    private mutating func resolve(_ prefix: IPPrefix) -> EffectiveBindingChange? {
        let candidates = bySource[prefix] ?? [:]
        let best = candidates.min { $0.key.priority < $1.key.priority }
        let winner = best.map { SGTBinding(prefix: prefix, sgt: $0.value, source: $0.key) }
        guard winners[prefix] != winner else { return nil }
        winners[prefix] = winner
        return EffectiveBindingChange(prefix: prefix, binding: winner)
    }

    /// Returns the binding of `source` for `prefix`, effective or not.
    public func binding(prefix: IPPrefix, source: BindingSource) -> SGTBinding? {
        bySource[prefix]?[source].map { SGTBinding(prefix: prefix, sgt: $0, source: source) }
    }

    /// Returns the winning binding of exactly `prefix`.
    public func effective(for prefix: IPPrefix) -> SGTBinding? {
        winners[prefix]
    }

    /// Every stored binding, sorted by prefix then source priority.
    public var all: [SGTBinding] {
        bySource.flatMap { prefix, sources in
            sources.map { SGTBinding(prefix: prefix, sgt: $0.value, source: $0.key) }
        }.sorted { ($0.prefix, $0.source.priority) < ($1.prefix, $1.source.priority) }
    }

    /// The winning binding of each prefix, sorted by prefix.
    public var effective: [SGTBinding] {
        winners.values.sorted { $0.prefix < $1.prefix }
    }

    /// Number of prefixes with an effective binding.
    public var count: Int { winners.count }

    /// Number of stored bindings, effective or not; unlike `all.count`, without sorting.
    public var storedCount: Int { bySource.values.reduce(0) { $0 + $1.count } }

    /// Calls `body` with each effective binding, in no particular order.
    public func forEachEffective(_ body: (SGTBinding) -> Void) {
        for binding in winners.values { body(binding) }
    }

    /// Finds the effective binding with the longest prefix containing `address`.
    public func lookup(_ address: IPAddress) -> SGTBinding? {
        // One hash lookup per possible prefix length, longest first: at most
        // 33 for IPv4 and 129 for IPv6, which is cheap for a control plane.
        for length in stride(from: address.bitWidth, through: 0, by: -1) {
            let candidate = IPPrefix(covering: address, length: length)
            if let binding = winners[candidate] { return binding }
        }
        return nil
    }
}
