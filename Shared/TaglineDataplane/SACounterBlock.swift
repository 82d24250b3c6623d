// Per-SA-pair counters shared by all workers: 64-bit slots per field of
// SACounters, a row per worker and one shared row, so workers add without a
// lock and the control thread reads totals at any time.

import CTaglineShim
import TaglineCore

/// Fields of SACounters that the packet path increments.
public enum SACounterField: Int, CaseIterable, Sendable {
    case encaps, encrypt, digest, decaps, decrypt, verify, verifyFailed, replayFailed
    case invalidSA, invalidLength, encapsFailed, decapsFailed
    case tagged, untagged, notTagged, notUntagged
    case internalErrorsSend, internalErrorsReceive, bytesOut, bytesIn
}

/// Counters of one SA pair: one row per worker, which only that worker writes, so the
/// packet path adds without a locked instruction, and a shared row that any thread adds to
/// atomically. A value is the sum of the rows.
public final class SACounterBlock: @unchecked Sendable {
    private static let fieldCount = SACounterField.allCases.count
    /// Each row starts on its own 64-byte line, so workers do not share lines.
    private static let rowStride = (fieldCount + 7) / 8 * 8
    private let rows: Int
    private let slots: UnsafeMutablePointer<UInt64>

    public init(workerCount: Int = 1) {
        precondition(workerCount > 0, "an SA needs at least one worker")
        rows = workerCount + 1
        slots = .allocate(capacity: rows * SACounterBlock.rowStride)
        slots.initialize(repeating: 0, count: rows * SACounterBlock.rowStride)
    }

    deinit { slots.deallocate() }

    /// Adds to the shared row; safe from any thread.
    @inline(__always)
    public func add(_ field: SACounterField, _ amount: UInt64 = 1) {
        let slot = slots + (rows - 1) * SACounterBlock.rowStride + field.rawValue
        _ = tagline_atomic_fetch_add_u64(slot, amount)
    }

    /// Adds to `worker`'s row. Only that worker's thread may call it.
    @inline(__always)
    public func add(_ field: SACounterField, _ amount: UInt64 = 1, worker: Int) {
        precondition(worker >= 0 && worker < rows - 1, "worker \(worker) out of range")
        let slot = slots + worker * SACounterBlock.rowStride + field.rawValue
        tagline_atomic_store_u64(slot, tagline_atomic_load_u64(slot) &+ amount)
    }

    /// Returns `worker`'s row for the packet path, valid while this block lives.
    @inline(__always)
    func row(worker: Int) -> SACounterRow {
        // Wrapping arithmetic is exact here: rows is at least 2, and the precondition bounds
        // the product.
        precondition(worker >= 0 && worker < rows &- 1, "worker \(worker) out of range")
        return SACounterRow(slots: slots + worker &* SACounterBlock.rowStride)
    }

    public func value(_ field: SACounterField) -> UInt64 {
        var total: UInt64 = 0
        for row in 0..<rows {
            total &+= tagline_atomic_load_u64(
                slots + row * SACounterBlock.rowStride + field.rawValue)
        }
        return total
    }

    /// Returns the totals as the bus reports them.
    public func snapshot() -> SACounters {
        var out = SACounters()
        out.encaps = value(.encaps)
        out.encrypt = value(.encrypt)
        out.digest = value(.digest)
        out.decaps = value(.decaps)
        out.decrypt = value(.decrypt)
        out.verify = value(.verify)
        out.verifyFailed = value(.verifyFailed)
        out.replayFailed = value(.replayFailed)
        out.invalidSA = value(.invalidSA)
        out.invalidLength = value(.invalidLength)
        out.encapsFailed = value(.encapsFailed)
        out.decapsFailed = value(.decapsFailed)
        out.tagged = value(.tagged)
        out.untagged = value(.untagged)
        out.notTagged = value(.notTagged)
        out.notUntagged = value(.notUntagged)
        out.internalErrorsSend = value(.internalErrorsSend)
        out.internalErrorsReceive = value(.internalErrorsReceive)
        out.bytesOut = value(.bytesOut)
        out.bytesIn = value(.bytesIn)
        return out
    }
}

/// One worker's row of an `SACounterBlock` as a plain pointer. Adding through it checks no
/// worker number and retains no block, so a packet fetches it once and adds several times.
/// Only the row's worker may add to it.
struct SACounterRow {
    let slots: UnsafeMutablePointer<UInt64>

    @inline(__always)
    func add(_ field: SACounterField, _ amount: UInt64 = 1) {
        let slot = slots + field.rawValue
        tagline_atomic_store_u64(slot, tagline_atomic_load_u64(slot) &+ amount)
    }
}
