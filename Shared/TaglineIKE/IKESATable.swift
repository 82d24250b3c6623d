// The engine's IKE SAs by local SPI. Every write goes through one subscript,
// which keeps two indexes current and records the SPI as changed. The
// indexes keep the cost of an IKE_SA_INIT request independent of how many
// SAs exist. The record of changes lets the host persist only the SAs that
// changed.

import TaglineCore

struct IKESATable {
    /// A responder SA as the initiator names it: its SPI and address.
    private struct InitiatorKey: Hashable {
        var initiatorSPI: UInt64
        var address: IPAddress
    }

    private var byLocalSPI: [UInt64: IKESAState] = [:]
    /// Local SPIs of the responder SAs that wait for IKE_AUTH.
    private(set) var halfOpen: Set<UInt64> = []
    /// Local SPIs of responder SAs, so that a retransmitted IKE_SA_INIT finds its SA.
    private var responderSPIs: [InitiatorKey: UInt64] = [:]
    /// Local SPIs of initiator and of responder SAs by remote address, in any
    /// phase, so that the check for SAs both gateways initiated does not scan every SA.
    private var initiatorSPIs: [IPAddress: Set<UInt64>] = [:]
    private var responderSPIsByRemote: [IPAddress: Set<UInt64>] = [:]
    /// Local SPIs written or removed since the last `takeChanged()`.
    private var changed: Set<UInt64> = []

    subscript(localSPI: UInt64) -> IKESAState? {
        get { byLocalSPI[localSPI] }
        set {
            if let old = byLocalSPI[localSPI] {
                IKESATable.remove(localSPI, old.remote.address, from: &initiatorSPIs)
                IKESATable.remove(localSPI, old.remote.address, from: &responderSPIsByRemote)
                if !old.isInitiator {
                    let key = InitiatorKey(
                        initiatorSPI: old.initiatorSPI, address: old.remote.address)
                    if responderSPIs[key] == localSPI { responderSPIs[key] = nil }
                }
            }
            byLocalSPI[localSPI] = newValue
            changed.insert(localSPI)
            if let new = newValue {
                if new.isInitiator {
                    initiatorSPIs[new.remote.address, default: []].insert(localSPI)
                } else {
                    responderSPIsByRemote[new.remote.address, default: []].insert(localSPI)
                    let key = InitiatorKey(
                        initiatorSPI: new.initiatorSPI, address: new.remote.address)
                    responderSPIs[key] = localSPI
                }
            }
            if newValue?.phase == .halfOpen {
                halfOpen.insert(localSPI)
            } else {
                halfOpen.remove(localSPI)
            }
        }
    }

    var values: Dictionary<UInt64, IKESAState>.Values { byLocalSPI.values }
    var keys: Dictionary<UInt64, IKESAState>.Keys { byLocalSPI.keys }
    var count: Int { byLocalSPI.count }

    @discardableResult
    mutating func removeValue(forKey localSPI: UInt64) -> IKESAState? {
        let old = self[localSPI]
        if old != nil { self[localSPI] = nil }
        return old
    }

    /// Returns the responder SA that an IKE_SA_INIT request from `address`
    /// with `initiatorSPI` created, in any phase.
    func responderSA(initiatorSPI: UInt64, address: IPAddress) -> IKESAState? {
        let key = InitiatorKey(initiatorSPI: initiatorSPI, address: address)
        return responderSPIs[key].flatMap { byLocalSPI[$0] }
    }

    /// Returns true when both an initiator SA and a responder SA with
    /// `address` exist, in any phase.
    func hasSAsInBothRoles(remote address: IPAddress) -> Bool {
        initiatorSPIs[address] != nil && responderSPIsByRemote[address] != nil
    }

    private static func remove(
        _ localSPI: UInt64, _ address: IPAddress, from index: inout [IPAddress: Set<UInt64>]
    ) {
        guard index[address]?.remove(localSPI) != nil, index[address]?.isEmpty == true else {
            return
        }
        index[address] = nil
    }

    /// Returns the local SPIs written or removed since the last call, and clears the record.
    mutating func takeChanged() -> Set<UInt64> {
        defer { changed = [] }
        return changed
    }

    /// Removes `localSPIs` from the record of changes, for SAs taken back from persistent storage.
    mutating func markUnchanged(_ localSPIs: [UInt64]) {
        changed.subtract(localSPIs)
    }

    /// Records `localSPIs` as changed again, for changes that could not be saved.
    mutating func markChanged(_ localSPIs: [UInt64]) {
        changed.formUnion(localSPIs)
    }
}
