// The dataplane's SGT bindings on the control thread. Changes arrive one at a
// time, up to tens of thousands a second. Each is applied at once to the
// publisher's own LPMTable, which copies only the 16 KiB pieces it touches
// since the last snapshot, and one snapshot carrying all of them is
// published at most once per interval. Workers read the previous table until
// the swap, so a packet carries either the old or the new SGT of its source.

import TaglineCore

/// Stages binding changes and publishes them together. Control thread only.
public final class BindingPublisher {
    /// Shortest time between two publications, in nanoseconds.
    public let minimumInterval: UInt64
    private let slot: TableSlot<BindingTable>
    private var table = LPMTable()
    private var stagedChanges = 0
    private var lastPublished: UInt64 = 0
    private var lastBuildTime: UInt64 = 0
    /// Bindings in the table the workers read.
    public private(set) var publishedCount = 0
    /// Tables published so far.
    public private(set) var publications = 0
    /// Changes published so far, counting each staged change once.
    public private(set) var publishedChanges = 0
    /// The clone sequence of the last change staged; the next table carries it.
    public var stagedSequence: UInt64 = 0
    /// The clone sequence the published table holds, and the CLOCK_MONOTONIC nanoseconds
    /// when it was published.
    public private(set) var publishedSequence: UInt64 = 0
    public private(set) var publishedAt: UInt64 = 0

    /// Creates a publisher into `slot`. `publishIfDue` publishes at most once per
    /// `minimumInterval` seconds (1 ms by default).
    public init(slot: TableSlot<BindingTable>, minimumInterval: Double = 0.001) {
        self.slot = slot
        self.minimumInterval = UInt64(max(minimumInterval, 0) * 1e9)
    }

    /// Replaces every binding and publishes at once, as after a clone snapshot.
    public func replaceAll(_ bindings: [SGTBinding]) {
        table = LPMTable(bindings: bindings.lazy.map { (prefix: $0.prefix, sgt: $0.sgt) })
        stagedChanges += 1
        publish(now: monotonicNanoseconds())
    }

    /// Stages `binding` for `prefix`, or its removal when nil; a later change of the same
    /// prefix before the next publication replaces this one.
    public func stage(_ prefix: IPPrefix, _ binding: SGTBinding?) {
        if let binding {
            table.insert(prefix, binding.sgt)
        } else {
            table.remove(prefix)
        }
        stagedChanges += 1
    }

    /// Number of changes staged since the last publication.
    public var pendingChanges: Int { stagedChanges }

    /// Bindings staged or published: the table the next publication shows.
    public var stagedCount: Int { table.count }

    /// Seconds until the next publication is allowed; 0 when it is due. The wait is
    /// also at least the time the last build took, so building never takes more than
    /// about half of the control thread.
    public func secondsUntilDue(now: UInt64 = monotonicNanoseconds()) -> Double {
        let due = lastPublished &+ max(minimumInterval, lastBuildTime)
        return due > now ? Double(due - now) / 1e9 : 0
    }

    /// Publishes the staged changes when there are any and the interval has passed;
    /// returns whether a table was published.
    @discardableResult
    public func publishIfDue(now: UInt64 = monotonicNanoseconds()) -> Bool {
        guard stagedChanges > 0, secondsUntilDue(now: now) == 0 else { return false }
        publish(now: now)
        return true
    }

    /// Publishes the staged changes now, whatever the interval.
    public func flush() {
        guard stagedChanges > 0 else { return }
        publish(now: monotonicNanoseconds())
    }

    private func publish(now: UInt64) {
        let published = BindingTable(snapshot: table.snapshot(), cloneSequence: stagedSequence)
        published.publishedAt = monotonicNanoseconds()
        slot.publish(published)
        let finished = monotonicNanoseconds()
        publishedSequence = stagedSequence
        publishedAt = published.publishedAt
        lastBuildTime = finished &- now
        lastPublished = finished
        publishedCount = table.count
        publications += 1
        publishedChanges += stagedChanges
        stagedChanges = 0
    }
}
