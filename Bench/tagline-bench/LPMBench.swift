// `tagline-bench lpm`: the dataplane's longest-prefix-match binding table
// (LPMTable) on a large random table, in one process on one core.
//
// The table gets --count prefixes with lengths distributed like a campus
// binding table: per 1,000 prefixes, 480 IPv4 /24, 300 IPv4 /32, 120 IPv4
// /16-/23, 50 IPv4 /25-/31 and 50 IPv6 (20 /48, 10 /56, 12 /64, 8 /128).
// Host /32s fall inside the table's /24s and host /128s inside its /64s, as
// bindings for hosts in known subnets do. The figures are:
//   - bulk load: seconds for LPMTable(bindings:) over the whole list;
//   - memory: LPMTable.memoryBytes per binding, and the growth of the
//     process's resident set during the load;
//   - IPv4 lookups per second on one core over --lookups addresses, half
//     inside stored prefixes and half uniformly random, against the same
//     addresses in an exact-match Dictionary<UInt32, UInt16> holding each
//     address's answer (the baseline); the best of --rounds passes each;
//   - IPv6 lookups per second over addresses inside the stored IPv6 prefixes;
//   - seconds for the first change to a copy of the table, which duplicates
//     its storage, and removes plus re-inserts per second on that copy;
//   - publication: microseconds for a batch of 1, 100 or 10,000 changes
//     (random bindings of the list with a new SGT) plus the snapshot the
//     workers would get, the median of 101, 21 and 3 batches. Earlier
//     snapshots stay alive, so every touched piece is copied.

import Foundation
import TaglineCore
import TaglineDataplane

#if canImport(Glibc)
    import Glibc
#endif

struct LPMBenchSettings {
    var count: Int
    var lookups: Int
    var rounds: Int
    var seed: UInt64
    var json: Bool
}

/// A seeded SplitMix64, so two runs build the same table.
struct BenchRandom: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct LPMBenchmark {
    let settings: LPMBenchSettings

    func run() {
        var random = BenchRandom(state: settings.seed)

        // Generate the prefixes.
        let bindings = makeBindings(&random)
        fputs("tagline-bench: lpm: generated \(bindings.count) prefixes\n", stderr)

        // Bulk load, with the resident set before and after.
        let residentBefore = residentBytes()
        let start = monotonicNanoseconds()
        let table = LPMTable(bindings: bindings)
        let loadSeconds = Double(monotonicNanoseconds() - start) / 1e9
        let residentGrowth = residentBytes() - residentBefore

        // Lookup addresses and the exact-match baseline.
        let addresses = makeIPv4Addresses(&random, bindings: bindings)
        var exact = [UInt32: UInt16](minimumCapacity: addresses.count)
        for address in addresses { exact[address] = table.lookupIPv4(address)?.value ?? 0 }
        let addressesIPv6 = makeIPv6Addresses(&random, bindings: bindings)

        var bestLPM = Double.infinity
        var bestExact = Double.infinity
        var bestIPv6 = Double.infinity
        for _ in 0..<settings.rounds {
            let (lpmSeconds, lpmSum) = timeIPv4(addresses) { table.lookupIPv4($0)?.value ?? 0 }
            let (exactSeconds, exactSum) = timeIPv4(addresses) { exact[$0] ?? 0 }
            if lpmSum != exactSum {
                fputs(
                    "tagline-bench: lpm: LPM and exact-match lookups returned different SGTs\n",
                    stderr)
                exit(1)
            }
            bestLPM = min(bestLPM, lpmSeconds)
            bestExact = min(bestExact, exactSeconds)
            bestIPv6 = min(bestIPv6, timeIPv6(addressesIPv6, table))
        }

        // Publication cost: the first change to a copy of the published table duplicates
        // its storage. Later changes to the copy are in place.
        var next = table
        let copyStart = monotonicNanoseconds()
        next.insert(IPPrefix(covering: .v4(0xC633_6407), length: 32), SGT(7)!)
        let copySeconds = Double(monotonicNanoseconds() - copyStart) / 1e9
        let updates = bindings.prefix(100_000)
        let updateStart = monotonicNanoseconds()
        for (prefix, sgt) in updates {
            next.remove(prefix)
            next.insert(prefix, sgt)
        }
        let updateSeconds = Double(monotonicNanoseconds() - updateStart) / 1e9

        // Publication: changes after a snapshot, then the next snapshot; the median of
        // several publications per batch size. Snapshots stay alive, as while workers read.
        var held = [next.snapshot()]
        var publishMicros: [(Int, Double)] = []
        for (batch, repeats) in [(1, 101), (100, 21), (10_000, 3)] {
            var micros: [Double] = []
            for _ in 0..<repeats {
                let changes = (0..<batch).map { _ in
                    bindings[Int.random(in: 0..<bindings.count, using: &random)]
                }
                let start = monotonicNanoseconds()
                for (prefix, sgt) in changes {
                    next.insert(prefix, SGT(sgt.value == 0xFFFE ? 1 : sgt.value + 1)!)
                }
                held.append(next.snapshot())
                micros.append(Double(monotonicNanoseconds() - start) / 1e3)
            }
            publishMicros.append((batch, micros.sorted()[repeats / 2]))
        }
        withExtendedLifetime(held) {}

        // Report.
        let results: [(String, String)] =
            [
                ("prefixes", String(table.count)),
                ("ipv4_blocks", String(table.ipv4BlockCount)),
                ("ipv6_nodes", String(table.ipv6NodeCount)),
                ("load_s", format(loadSeconds, 3)),
                ("bytes_per_binding", format(table.bytesPerBinding, 1)),
                ("first_level_bytes", String(table.memoryUsage.firstLevel)),
                ("block_bytes", String(table.memoryUsage.blocks)),
                ("ipv6_node_bytes", String(table.memoryUsage.nodesIPv6)),
                ("rib_bytes_estimate", String(table.memoryUsage.rib)),
                (
                    "resident_growth_bytes_per_binding",
                    format(Double(residentGrowth) / Double(max(1, table.count)), 1)
                ),
                ("lpm_ipv4_lookups_per_s", format(Double(addresses.count) / bestLPM, 0)),
                ("exact_ipv4_lookups_per_s", format(Double(addresses.count) / bestExact, 0)),
                ("lpm_over_exact", format(bestExact / bestLPM, 2)),
                ("lpm_ipv6_lookups_per_s", format(Double(addressesIPv6.count) / bestIPv6, 0)),
                ("copy_on_first_change_s", format(copySeconds, 3)),
                ("remove_and_insert_per_s", format(Double(updates.count) / updateSeconds, 0)),
            ] + publishMicros.map { ("publish_\($0.0)_changes_us", format($0.1, 0)) }
        if settings.json {
            let fields = results.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
            print("{\"benchmark\": \"lpm\", \(fields)}")
        } else {
            for (name, value) in results { print("\(name) \(value)") }
        }
    }

    private func makeBindings(_ random: inout BenchRandom) -> [(prefix: IPPrefix, sgt: SGT)] {
        var bindings: [(prefix: IPPrefix, sgt: SGT)] = []
        bindings.reserveCapacity(settings.count)
        var subnets24: [UInt32] = []
        var subnets64: [UInt64] = []
        for _ in 0..<settings.count {
            let kind = Int.random(in: 0..<1000, using: &random)
            let tag = SGT(UInt16.random(in: 1...0xFFFE, using: &random))!
            let prefix: IPPrefix
            switch kind {
            case 0..<480:
                let address = random.next32() & 0xFFFF_FF00
                subnets24.append(address)
                prefix = IPPrefix(covering: .v4(address), length: 24)
            case 480..<780:
                let subnet = subnets24.randomElement(using: &random) ?? random.next32()
                prefix = IPPrefix(covering: .v4(subnet | random.next32() & 0xFF), length: 32)
            case 780..<900:
                let length = Int.random(in: 16...23, using: &random)
                prefix = IPPrefix(covering: .v4(random.next32()), length: length)
            case 900..<950:
                let subnet = subnets24.randomElement(using: &random) ?? random.next32()
                let length = Int.random(in: 25...31, using: &random)
                prefix = IPPrefix(covering: .v4(subnet | random.next32() & 0xFF), length: length)
            default:
                // IPv6 under 2001:db8::/32.
                let high = 0x2001_0DB8_0000_0000 | random.next() & 0xFFFF_FFFF
                switch kind {
                case 950..<970: prefix = IPPrefix(covering: .v6(high, 0), length: 48)
                case 970..<980: prefix = IPPrefix(covering: .v6(high, 0), length: 56)
                case 980..<992:
                    subnets64.append(high)
                    prefix = IPPrefix(covering: .v6(high, 0), length: 64)
                default:
                    let subnet = subnets64.randomElement(using: &random) ?? high
                    let host = random.next() & 0xFFFF
                    prefix = IPPrefix(host: .v6(subnet, host))
                }
            }
            bindings.append((prefix, tag))
        }
        return bindings
    }

    private func makeIPv4Addresses(
        _ random: inout BenchRandom, bindings: [(prefix: IPPrefix, sgt: SGT)]
    )
        -> [UInt32]
    {
        let networks: [(UInt32, Int)] = bindings.compactMap {
            if case .v4(let network) = $0.prefix.address { return (network, $0.prefix.length) }
            return nil
        }
        return (0..<settings.lookups).map { index in
            guard index % 2 == 0, let (network, length) = networks.randomElement(using: &random)
            else { return random.next32() }
            let hostMask: UInt32 = length == 32 ? 0 : ~UInt32(0) >> UInt32(length)
            return network | random.next32() & hostMask
        }
    }

    private func makeIPv6Addresses(
        _ random: inout BenchRandom, bindings: [(prefix: IPPrefix, sgt: SGT)]
    )
        -> [IPAddress]
    {
        let networks: [(UInt64, UInt64, Int)] = bindings.compactMap {
            if case .v6(let high, let low) = $0.prefix.address {
                return (high, low, $0.prefix.length)
            }
            return nil
        }
        guard !networks.isEmpty else { return [] }
        return (0..<max(1, settings.lookups / 4)).map { _ in
            let (high, low, length) = networks.randomElement(using: &random)!
            return length >= 64 ? .v6(high, low | random.next() & 0xFF) : .v6(high, random.next())
        }
    }

    /// Returns the seconds one pass takes and the sum of the returned SGTs. Both lookups
    /// must return the same sum, and using it keeps the optimizer from dropping the loop.
    private func timeIPv4(_ addresses: [UInt32], _ lookup: (UInt32) -> UInt16) -> (Double, UInt64) {
        var sum: UInt64 = 0
        let start = monotonicNanoseconds()
        for address in addresses { sum &+= UInt64(lookup(address)) }
        return (Double(monotonicNanoseconds() - start) / 1e9, sum)
    }

    private func timeIPv6(_ addresses: [IPAddress], _ table: LPMTable) -> Double {
        var sum: UInt64 = 0
        let start = monotonicNanoseconds()
        for address in addresses { sum &+= UInt64(table.lookup(address)?.value ?? 0) }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        if sum == 0 { fputs("tagline-bench: lpm: no IPv6 lookup matched\n", stderr) }
        return seconds
    }

    /// Resident bytes of this process from /proc/self/statm, 0 when it cannot be read.
    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private func format(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "0" }
        return String(format: "%.\(digits)f", value)
    }
}

extension BenchRandom {
    mutating func next32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
}
