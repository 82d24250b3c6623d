// Counter totals per Child SA across dataplane restarts. The dataplane
// reports totals since it started, together with its start time. Reports
// of one run replace each other. When a report carries a later start time,
// the last totals of the previous run are folded into a base, so the sum
// base + current never goes backwards.

import TaglineCore

/// Counter totals per SA, keyed by inbound SPI.
public struct CounterLedger: Equatable, Sendable {
    /// Start time of the dataplane run whose totals are in `current`.
    public private(set) var dataplaneStartedAt: Double?
    /// Totals of earlier dataplane runs.
    public private(set) var base: [UInt32: SACounters] = [:]
    /// Totals of the current run, from its latest report.
    public private(set) var current: [UInt32: SACounters] = [:]
    /// Drops not tied to an SA, from the latest report.
    public private(set) var drops: [String: UInt64] = [:]

    public init() {}

    /// Restores a ledger from stored rows.
    public init(
        dataplaneStartedAt: Double?, base: [UInt32: SACounters],
        current: [UInt32: SACounters]
    ) {
        self.dataplaneStartedAt = dataplaneStartedAt
        self.base = base
        self.current = current
    }

    /// Applies one report and returns the SPIs whose rows changed, or nil
    /// when the report is stale (from a run older than the current one).
    /// Keys that are not decimal SPIs are ignored.
    public mutating func apply(_ report: CounterReport) -> Set<UInt32>? {
        var changed: Set<UInt32> = []
        if let started = dataplaneStartedAt {
            if report.dataplaneStartedAt < started { return nil }
            if report.dataplaneStartedAt > started {
                // A new dataplane run: keep what the old run counted.
                for (spi, counters) in current {
                    base[spi, default: SACounters()].add(counters)
                    changed.insert(spi)
                }
                current = [:]
            }
        }
        dataplaneStartedAt = report.dataplaneStartedAt
        for (key, counters) in report.counters {
            guard let spi = UInt32(key) else { continue }
            current[spi] = counters
            changed.insert(spi)
        }
        drops = report.drops
        return changed
    }

    /// Returns base + current for one SA; zero counters for an unknown SPI.
    public func total(inboundSPI: UInt32) -> SACounters {
        var sum = base[inboundSPI] ?? SACounters()
        if let running = current[inboundSPI] { sum.add(running) }
        return sum
    }

    /// Forgets an SA that was deleted.
    public mutating func remove(inboundSPI: UInt32) {
        base[inboundSPI] = nil
        current[inboundSPI] = nil
    }
}
