// Reassembly of outer IPv4 and IPv6 fragments of ESP packets, which RFC 4303
// §3.4.1 requires before any ESP processing. A path with a smaller MTU than
// the sender assumed fragments the ESP packet after encryption, so the CMD
// inside it travels once, in the reassembled packet.
//
// Each worker has its own reassembler: the fanout hash of a fragment covers
// only the addresses and protocol, so every fragment of one datagram reaches
// the same worker.

import TaglineCore

/// Identifies the fragments of one datagram (RFC 791 §3.2, RFC 8200 §4.5).
struct FragmentKey: Hashable {
    var source: IPAddress
    var destination: IPAddress
    var identification: UInt32
    /// The protocol of the reassembled payload: ESP or UDP.
    var ipProtocol: UInt8
}

/// One received fragment: where its data goes in the reassembled payload.
struct FragmentInfo {
    var key: FragmentKey
    /// Byte offset of the data in the reassembled payload (the wire value times 8).
    var offset: Int
    /// More Fragments flag.
    var more: Bool
    /// Position of the fragment's data in the received packet.
    var dataOffset: Int
    var dataLength: Int
}

/// Collects fragments until a datagram is complete.
final class FragmentReassembler {
    enum Outcome {
        /// The datagram still has holes.
        case incomplete
        /// The fragment overlaps another, runs past 65535 bytes or contradicts the end already
        /// known; the datagram is discarded.
        case invalid
        /// The payload after the IP header(s), complete.
        case complete([UInt8])
    }

    private struct Datagram {
        var data: [UInt8] = []
        /// Received byte ranges, sorted by start.
        var ranges: [Range<Int>] = []
        /// Payload length, known once the last fragment arrived.
        var totalLength: Int?
        var started: UInt64
    }

    /// Largest reassembled payload: the IPv4 total length field's limit.
    static let maximumPayload = 65535
    /// Default limit of datagrams in flight per worker.
    static let defaultMaximumDatagrams = 64
    /// Default limit of bytes held per worker across all datagrams: 16 of the largest size.
    static let defaultMaximumBytes = 16 * 65536
    let maximumDatagrams: Int
    let maximumBytes: Int
    let timeout: UInt64
    private var datagrams: [FragmentKey: Datagram] = [:]
    /// Sum of the buffer sizes of `datagrams`.
    private(set) var heldBytes = 0
    /// Earliest `started` of the held datagrams, so that most calls skip the expiry scan.
    private var oldestStart = UInt64.max
    /// Datagrams dropped unfinished since the last `takeDiscarded`: past the timeout, or
    /// evicted to make room.
    private var timedOut = 0
    private var evicted = 0

    init(
        maximumDatagrams: Int = FragmentReassembler.defaultMaximumDatagrams,
        maximumBytes: Int = FragmentReassembler.defaultMaximumBytes,
        timeoutNanoseconds: UInt64 = 2_000_000_000
    ) {
        self.maximumDatagrams = maximumDatagrams
        self.maximumBytes = maximumBytes
        self.timeout = timeoutNanoseconds
    }

    /// Number of datagrams waiting for fragments.
    var pendingCount: Int { datagrams.count }

    /// Returns and resets the counts of datagrams dropped unfinished.
    func takeDiscarded() -> (timedOut: Int, evicted: Int) {
        defer {
            timedOut = 0
            evicted = 0
        }
        return (timedOut, evicted)
    }

    /// Adds the fragment described by `fragment`, whose data is `data`.
    func add(_ fragment: FragmentInfo, data: UnsafeRawBufferPointer, now: UInt64) -> Outcome {
        expire(now: now)
        let start = fragment.offset
        let end = start + data.count
        guard end <= FragmentReassembler.maximumPayload, !data.isEmpty, end <= maximumBytes else {
            remove(fragment.key)
            return .invalid
        }
        // Every fragment but the last carries a multiple of 8 bytes.
        if fragment.more && data.count % 8 != 0 {
            remove(fragment.key)
            return .invalid
        }
        if datagrams[fragment.key] == nil {
            if datagrams.count >= maximumDatagrams { evictOldest() }
            datagrams[fragment.key] = Datagram(started: now)
            oldestStart = min(oldestStart, now)
        }
        var datagram = datagrams[fragment.key]!

        // A network may deliver a fragment twice (RFC 5722 §4). An exact copy of a held
        // fragment is dropped alone, so the datagram still completes.
        if isDuplicate(datagram, start: start, more: fragment.more, data: data) {
            return .incomplete
        }
        // Overlaps are rejected outright (RFC 5722 for IPv6; the same rule for IPv4).
        if datagram.ranges.contains(where: { $0.overlaps(start..<end) }) {
            remove(fragment.key)
            return .invalid
        }
        if let total = datagram.totalLength, end > total || (!fragment.more && end != total) {
            remove(fragment.key)
            return .invalid
        }
        if !fragment.more {
            guard datagram.ranges.allSatisfy({ $0.upperBound <= end }) else {
                remove(fragment.key)
                return .invalid
            }
            datagram.totalLength = end
        }

        // Store the data and the range, evicting older datagrams past the byte limit.
        if datagram.data.count < end {
            let growth = end - datagram.data.count
            while heldBytes + growth > maximumBytes, evictOldest(sparing: fragment.key) {}
            guard heldBytes + growth <= maximumBytes else {
                remove(fragment.key)
                return .invalid
            }
            datagram.data += [UInt8](repeating: 0, count: growth)
            heldBytes += growth
        }
        datagram.data.withUnsafeMutableBytes { $0.copyBytes(from: data, at: start) }
        let position = datagram.ranges.firstIndex { $0.lowerBound > start } ?? datagram.ranges.count
        datagram.ranges.insert(start..<end, at: position)

        // Complete when the ranges cover 0 ..< total without a hole.
        if let total = datagram.totalLength, isContiguous(datagram.ranges, total: total) {
            remove(fragment.key)
            return .complete(Array(datagram.data.prefix(total)))
        }
        datagrams[fragment.key] = datagram
        return .incomplete
    }

    /// Returns true when `datagram` already contains exactly these bytes at `start`, with the
    /// same end of datagram.
    private func isDuplicate(
        _ datagram: Datagram, start: Int, more: Bool, data: UnsafeRawBufferPointer
    ) -> Bool {
        let end = start + data.count
        guard datagram.ranges.contains(start..<end),
            more == (datagram.totalLength != end)
        else { return false }
        return datagram.data[start..<end].elementsEqual(data)
    }

    private func isContiguous(_ ranges: [Range<Int>], total: Int) -> Bool {
        var next = 0
        for range in ranges {
            guard range.lowerBound == next else { return false }
            next = range.upperBound
        }
        return next == total
    }

    /// Drops datagrams older than the timeout. Scans only when the oldest one is due.
    func expire(now: UInt64) {
        guard !datagrams.isEmpty, now &- oldestStart >= timeout, now >= oldestStart else { return }
        let expired = datagrams.filter { now &- $0.value.started >= timeout }.map { $0.key }
        for key in expired { remove(key) }
        timedOut += expired.count
        oldestStart = datagrams.values.map { $0.started }.min() ?? UInt64.max
    }

    /// Forgets the datagram of `key` and the bytes it held.
    private func remove(_ key: FragmentKey) {
        guard let datagram = datagrams.removeValue(forKey: key) else { return }
        heldBytes -= datagram.data.count
        if datagrams.isEmpty { oldestStart = UInt64.max }
    }

    /// Evicts the oldest datagram other than `sparing`; returns false when there is none.
    @discardableResult
    private func evictOldest(sparing: FragmentKey? = nil) -> Bool {
        guard
            let oldest = datagrams.filter({ $0.key != sparing }).min(by: {
                $0.value.started < $1.value.started
            })
        else { return false }
        remove(oldest.key)
        evicted += 1
        return true
    }
}
