// The tables a burst of packets reads, taken from their slots once per burst.
// Reading a slot retains and releases its table (about 40 instructions by
// callgrind), so the caller of a burst holds the references and the packet
// path borrows them.

/// The forwarding, SA and binding tables in force when a burst began.
public struct PacketTables {
    public let forwarding: ForwardingTable
    public let sa: SATable
    public let bindings: BindingTable

    public init(forwarding: ForwardingTable, sa: SATable, bindings: BindingTable) {
        self.forwarding = forwarding
        self.sa = sa
        self.bindings = bindings
    }
}

extension DataplaneContext {
    /// Returns the tables in force. Like `TableSlot.current`, they are valid only between
    /// `EpochDomain.enter` and `leave` of the calling worker.
    @inline(__always)
    public func currentTables() -> PacketTables {
        PacketTables(
            forwarding: forwardingTable.current, sa: saTable.current,
            bindings: bindingTable.current)
    }
}
