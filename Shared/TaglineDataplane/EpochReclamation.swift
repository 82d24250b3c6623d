// Lock-free publication of immutable tables to the worker threads.
//
// The control thread builds a new table, swaps it into a `TableSlot` with
// one atomic exchange and retires the old one. A worker reads a slot only
// between `EpochDomain.enter` and `leave`, which bump its epoch counter
// (odd while inside, even while quiescent). A retired table is released only
// after every worker was quiescent at retirement or has moved past the epoch
// it was in, so no worker can still be reading it.

import CTaglineShim

/// The epochs of all workers and the tables waiting to be released.
public final class EpochDomain: @unchecked Sendable {
    /// Each epoch sits on its own 64-byte cache line, so workers do not share lines.
    private static let stride = 8
    public let workerCount: Int
    private let epochs: UnsafeMutablePointer<UInt64>
    /// Retired objects with the epochs seen at retirement; touched by the control thread only.
    private var retired: [(release: () -> Void, snapshot: [UInt64])] = []

    public init(workerCount: Int) {
        precondition(workerCount > 0, "an epoch domain needs at least one worker")
        self.workerCount = workerCount
        epochs = .allocate(capacity: workerCount * EpochDomain.stride)
        epochs.initialize(repeating: 0, count: workerCount * EpochDomain.stride)
    }

    deinit {
        for item in retired { item.release() }
        epochs.deallocate()
    }

    /// Marks `worker` as reading tables; call before a burst.
    @inline(__always)
    public func enter(worker: Int) {
        let slot = epochs + worker * EpochDomain.stride
        tagline_atomic_store_u64(slot, tagline_atomic_load_u64(slot) &+ 1)
        tagline_atomic_fence()
    }

    /// Marks `worker` as quiescent; call after a burst and before sleeping.
    @inline(__always)
    public func leave(worker: Int) {
        let slot = epochs + worker * EpochDomain.stride
        tagline_atomic_store_u64(slot, tagline_atomic_load_u64(slot) &+ 1)
    }

    func epoch(of worker: Int) -> UInt64 {
        tagline_atomic_load_u64(epochs + worker * EpochDomain.stride)
    }

    /// Queues `release` until every worker has passed a quiescent point. Control thread only.
    func retire(_ release: @escaping () -> Void) {
        tagline_atomic_fence()
        let snapshot = (0..<workerCount).map { epoch(of: $0) }
        retired.append((release, snapshot))
    }

    /// Releases the retired objects no worker can still see; returns how many remain queued.
    /// Control thread only.
    @discardableResult
    public func reclaim() -> Int {
        let current = (0..<workerCount).map { epoch(of: $0) }
        var kept: [(release: () -> Void, snapshot: [UInt64])] = []
        for item in retired {
            let passed = (0..<workerCount).allSatisfy { worker in
                item.snapshot[worker] & 1 == 0 || current[worker] != item.snapshot[worker]
            }
            if passed { item.release() } else { kept.append(item) }
        }
        retired = kept
        return retired.count
    }
}

/// One published table. Workers read it with `current` while inside their epoch;
/// the control thread replaces it with `publish`.
public final class TableSlot<Table: AnyObject>: @unchecked Sendable {
    private let slot: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let domain: EpochDomain

    public init(_ initial: Table, domain: EpochDomain) {
        self.domain = domain
        slot = .allocate(capacity: 1)
        slot.initialize(to: Unmanaged.passRetained(initial).toOpaque())
    }

    deinit {
        if let pointer = slot.pointee {
            Unmanaged<Table>.fromOpaque(pointer).release()
        }
        slot.deallocate()
    }

    /// The table in force. Valid only between `EpochDomain.enter` and `leave` of the caller,
    /// or on the control thread.
    @inline(__always)
    public var current: Table {
        let pointer = tagline_atomic_load_pointer(
            UnsafeRawPointer(slot).assumingMemoryBound(to: UnsafeMutableRawPointer?.self))
        return Unmanaged<Table>.fromOpaque(pointer!).takeUnretainedValue()
    }

    /// Swaps in `table` and retires the previous one. Control thread only.
    public func publish(_ table: Table) {
        let new = Unmanaged.passRetained(table).toOpaque()
        let old = tagline_atomic_exchange_pointer(
            UnsafeMutableRawPointer(slot).assumingMemoryBound(to: UnsafeMutableRawPointer?.self),
            new)
        if let old {
            let retiredTable = Unmanaged<Table>.fromOpaque(old)
            domain.retire { retiredTable.release() }
        }
    }
}
