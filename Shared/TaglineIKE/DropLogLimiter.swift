// Rate limiting of log lines about dropped or rejected datagrams. Anyone who
// can reach UDP 500 can make the negotiator drop datagrams, so every drop is
// counted, but per reason only the first few of each interval are logged
// one by one. The rest are reported as one count when the interval ends.

import TaglineCore

struct DropLogLimiter {
    /// One summary line: `suppressed` drops of `reason` were not logged one by one.
    struct Summary: Equatable {
        var reason: String
        var level: LogLevel
        var suppressed: UInt64
    }

    private struct Interval {
        var start: Double
        var level: LogLevel
        var logged = 0
        var suppressed: UInt64 = 0
    }

    /// Lines logged one by one per reason and interval.
    var burst: Int
    /// Length of an interval, in seconds. An interval starts with the first drop of a reason.
    var interval: Double
    private var intervals: [String: Interval] = [:]

    init(burst: Int, interval: Double) {
        self.burst = burst
        self.interval = interval
    }

    /// Counts one drop of `reason`. Returns true when it is to be logged one
    /// by one. Call `endIntervals(at:)` first, so that an interval that is over
    /// gets its summary before a new one starts.
    mutating func shouldLog(_ reason: String, level: LogLevel, at now: Double) -> Bool {
        var current = intervals[reason] ?? Interval(start: now, level: level)
        defer { intervals[reason] = current }
        if current.logged < burst {
            current.logged += 1
            return true
        }
        current.suppressed += 1
        return false
    }

    /// Ends the intervals that are over. Returns a summary for each one that
    /// had drops not logged one by one, sorted by reason.
    mutating func endIntervals(at now: Double) -> [Summary] {
        var summaries: [Summary] = []
        for (reason, current) in intervals where now >= current.start + interval {
            intervals[reason] = nil
            if current.suppressed > 0 {
                summaries.append(
                    Summary(reason: reason, level: current.level, suppressed: current.suppressed))
            }
        }
        return summaries.sorted { $0.reason < $1.reason }
    }

    /// The end of the earliest interval that owes a summary; nil when none does.
    var nextSummaryDeadline: Double? {
        intervals.values.filter { $0.suppressed > 0 }.map { $0.start + interval }.min()
    }
}
