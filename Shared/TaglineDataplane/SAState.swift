// The dataplane's view of one Child SA pair: its configuration, the state
// that all workers share (counters, replay window, outbound sequence numbers)
// and one set of cipher contexts per worker. SAState objects outlive table
// rebuilds: the control thread reuses the object of an SPI whose SA did not
// change, so counters and the replay window carry over.

import TaglineCore

/// One installed Child SA pair.
public final class SAState: @unchecked Sendable {
    public let childSA: ChildSA
    public let counters = SACounterBlock()
    public let sequence = OutboundSequence()
    private var replayWindow: ReplayWindow
    private let replayLock = SpinLock()
    /// Index = worker number.
    let outboundTransforms: [ESPTransform]
    let inboundTransforms: [ESPTransform]

    /// Creates the contexts for `workerCount` workers. Throws the crypto library's error when
    /// a key has the wrong length for its algorithm.
    public init(
        childSA: ChildSA, workerCount: Int, replayWindowSize: Int = ReplayWindow.defaultSize
    )
        throws
    {
        precondition(workerCount > 0, "an SA needs at least one worker")
        self.childSA = childSA
        self.replayWindow = ReplayWindow(size: replayWindowSize)
        var outbound = [ESPTransform]()
        var inbound = [ESPTransform]()
        for _ in 0..<workerCount {
            outbound.append(
                try ESPTransform(
                    encryption: childSA.encryption, integrity: childSA.integrity,
                    keys: childSA.outboundKeys))
            inbound.append(
                try ESPTransform(
                    encryption: childSA.encryption, integrity: childSA.integrity,
                    keys: childSA.inboundKeys))
        }
        outboundTransforms = outbound
        inboundTransforms = inbound
    }

    /// Tells whether `sequence` passes the replay window, without recording it.
    @inline(__always)
    func checkReplay(_ sequence: UInt32) -> ReplayWindow.Verdict {
        replayLock.withLock { replayWindow.check(sequence) }
    }

    /// Records `sequence` once its ICV verified.
    @inline(__always)
    func recordReplay(_ sequence: UInt32) -> ReplayWindow.Verdict {
        replayLock.withLock { replayWindow.record(sequence) }
    }

    /// Highest inbound sequence number accepted so far.
    public var highestInboundSequence: UInt32 {
        replayLock.withLock { replayWindow.highest }
    }
}
