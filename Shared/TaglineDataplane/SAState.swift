// The dataplane's view of one Child SA pair: its configuration, the state
// that all workers share (counters, replay window, outbound sequence numbers)
// and one set of cipher contexts per worker. SAState objects outlive table
// rebuilds: the control thread reuses the object of an SPI whose SA did not
// change, so counters and the replay window carry over.

import TaglineCore

/// One installed Child SA pair.
public final class SAState: @unchecked Sendable {
    public let childSA: ChildSA
    public let counters: SACounterBlock
    /// Path MTU learned from ICMP messages about this SA's ESP packets.
    public let pathMTU = PathMTU()
    public let sequence: OutboundSequence
    /// The fields of `childSA` the packet path reads per packet.
    let plan: SAPlan
    /// The selectors of `childSA`, in the form the packet path matches.
    let localSelectors: [PlanSelector]
    let remoteSelectors: [PlanSelector]
    /// Inbound anti-replay window, shared by the workers without a lock.
    let replayWindow: ReplayWindow
    /// Consecutive ICV failures, which trigger an ESN resynchronization.
    public let resync = ESNResync()
    /// Index = worker number.
    let outboundTransforms: [ESPTransform]
    let inboundTransforms: [ESPTransform]
    /// The transforms without ownership, so the packet path borrows them without a retain
    /// while this state lives.
    let unretainedOutboundTransforms: [Unmanaged<ESPTransform>]
    let unretainedInboundTransforms: [Unmanaged<ESPTransform>]

    /// Creates the contexts for `workerCount` workers. Throws the crypto library's error when
    /// a key has the wrong length for its algorithm.
    public init(
        childSA: ChildSA, workerCount: Int, replayWindowSize: Int = ReplayWindow.defaultSize
    )
        throws
    {
        precondition(workerCount > 0, "an SA needs at least one worker")
        self.childSA = childSA
        plan = SAPlan(childSA)
        localSelectors = childSA.localSelectors.map(PlanSelector.init)
        remoteSelectors = childSA.remoteSelectors.map(PlanSelector.init)
        counters = SACounterBlock(workerCount: workerCount)
        let extended = childSA.usesExtendedSequenceNumbers
        self.sequence = OutboundSequence(
            maximum: extended ? OutboundSequence.extendedMaximum : OutboundSequence.maximum)
        var outbound = [ESPTransform]()
        var inbound = [ESPTransform]()
        for _ in 0..<workerCount {
            outbound.append(
                try ESPTransform(
                    encryption: childSA.encryption, integrity: childSA.integrity,
                    keys: childSA.outboundKeys, extendedSequenceNumbers: extended))
            inbound.append(
                try ESPTransform(
                    encryption: childSA.encryption, integrity: childSA.integrity,
                    keys: childSA.inboundKeys, extendedSequenceNumbers: extended))
        }
        outboundTransforms = outbound
        inboundTransforms = inbound
        unretainedOutboundTransforms = outbound.map(Unmanaged.passUnretained)
        unretainedInboundTransforms = inbound.map(Unmanaged.passUnretained)
        replayWindow = ReplayWindow(size: replayWindowSize, extendedSequenceNumbers: extended)
    }

    /// Infers the full sequence number of a packet carrying `low` and checks it against the
    /// replay window, without recording it.
    @inline(__always)
    func checkReplay(low: UInt32) -> (sequence: UInt64, verdict: ReplayWindow.Verdict) {
        let sequence = replayWindow.infer(low: low)
        return (sequence, replayWindow.check(sequence))
    }

    /// Records `sequence` once its ICV verified, and ends a run of ICV failures.
    @inline(__always)
    func recordReplay(_ sequence: UInt64) -> ReplayWindow.Verdict {
        resync.recordSuccess()
        return replayWindow.record(sequence)
    }

    /// Highest inbound sequence number accepted so far.
    public var highestInboundSequence: UInt64 { replayWindow.highest }
}
