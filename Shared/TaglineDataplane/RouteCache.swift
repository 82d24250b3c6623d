// Next hops of recent destinations on one interface, in front of the route trie
// and the neighbour dictionary. A worker looks up the route of every inbound
// packet. The bit-per-level trie walk and the neighbour hash cost about 1,000
// instructions (callgrind, tagline-bench pipeline), and a hit here costs a hash
// and one compare.

import TaglineCore

/// A direct-mapped cache of next hops and link-layer addresses for one forwarding table
/// and one interface. Each worker owns one, so it takes no lock. Only results that come
/// entirely from the forwarding table are stored, because a published table never changes,
/// while neighbours that a worker learns may still change.
final class RouteCache {
    /// Entries, a power of two.
    static let entryCount = 256

    struct Entry {
        var destination: IPAddress.OrderedKey
        var nextHop: IPAddress
        var mac: MACAddress
        var valid: Bool
    }

    private let entries: UnsafeMutablePointer<Entry>
    /// The table the entries came from. A strong reference, so `===` cannot match a new
    /// table that a later allocation placed at a freed table's address.
    /// Read on every lookup by the one worker that owns the cache, so without the dynamic
    /// exclusivity check.
    @exclusivity(unchecked) private var table: ForwardingTable?

    init() {
        entries = .allocate(capacity: RouteCache.entryCount)
        entries.initialize(
            repeating: Entry(
                destination: (0, 0, 0), nextHop: .v4(0), mac: MACAddress(0), valid: false),
            count: RouteCache.entryCount)
    }

    deinit {
        entries.deinitialize(count: RouteCache.entryCount)
        entries.deallocate()
    }

    /// Returns the next hop and link-layer address of `destination` stored for `forwarding`,
    /// or nil on a miss. A new table empties the cache first.
    @inline(__always)
    func lookup(_ destination: IPAddress, forwarding: ForwardingTable) -> (
        nextHop: IPAddress, mac: MACAddress
    )? {
        if table !== forwarding { reset(for: forwarding) }
        if case .v4(let value) = destination {
            // The key of an IPv4 address is (0, 0, value), so only `value` needs comparing.
            let low = UInt64(value)
            let entry = entries[RouteCache.index(of: (0, 0, low))]
            guard entry.valid, entry.destination.family == 0, entry.destination.high == 0,
                entry.destination.low == low
            else { return nil }
            return (entry.nextHop, entry.mac)
        }
        let key = destination.orderedKey
        let entry = entries[RouteCache.index(of: key)]
        guard entry.valid, entry.destination == key else { return nil }
        return (entry.nextHop, entry.mac)
    }

    /// Stores the route of `destination` for the table of the last `lookup`, replacing the
    /// entry that shares its slot.
    @inline(__always)
    func store(_ destination: IPAddress, nextHop: IPAddress, mac: MACAddress) {
        let key = destination.orderedKey
        entries[RouteCache.index(of: key)] = Entry(
            destination: key, nextHop: nextHop, mac: mac, valid: true)
    }

    private func reset(for forwarding: ForwardingTable) {
        for index in 0..<RouteCache.entryCount { entries[index].valid = false }
        table = forwarding
    }

    /// Fibonacci hashing of the address into the top 8 bits.
    @inline(__always)
    private static func index(of key: IPAddress.OrderedKey) -> Int {
        let mixed = (key.high ^ key.low ^ (key.low >> 32)) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: mixed >> 56) & (entryCount - 1)
    }
}

extension Pipeline {
    /// Returns the next hop of `destination` through the inside interface and its
    /// link-layer address (nil while unresolved), or nil when the route table sends it
    /// elsewhere or has no route.
    @inline(__always)
    func inboundNextHop(to destination: IPAddress, forwarding: ForwardingTable)
        -> (nextHop: IPAddress, mac: MACAddress?)?
    {
        if let hit = inboundRoutes.lookup(destination, forwarding: forwarding) {
            return (hit.nextHop, hit.mac)
        }
        guard let nextHop = forwarding.nextHop(to: destination, through: forwarding.inside)
        else { return nil }
        if let mac = forwarding.neighbour(nextHop, on: forwarding.inside) {
            inboundRoutes.store(destination, nextHop: nextHop, mac: mac)
            return (nextHop, mac)
        }
        return (nextHop, linkAddress(of: nextHop, on: forwarding.inside, forwarding: forwarding))
    }
}
