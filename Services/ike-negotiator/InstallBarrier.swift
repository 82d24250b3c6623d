// Holds the datagrams that the engine sends while handling one received
// message that installed a Child SA, until sa-manager has confirmed the
// install. sa-manager confirms once the dataplane has the SA, when a
// dataplane is running. A response that creates a Child SA, such as the
// IKE_AUTH or CREATE_CHILD_SA response, thus leaves only when this gateway
// can receive on the new SA. The peer may send on it as soon as it has the
// response (RFC 7296 §2.8), so no packet arrives before its SA.

import TaglineIKE

final class InstallBarrier {
    /// Datagrams sent during the message being handled; nil between messages.
    private var collecting: [IKEDatagram]?
    /// The last install queued while handling the message, by queue id.
    private var installID: Int64?
    /// Datagrams waiting for the install with id `waitFor` and every earlier one.
    private var held: [(waitFor: Int64, datagrams: [IKEDatagram])] = []
    private let transmit: (IKEDatagram) -> Void

    init(transmit: @escaping (IKEDatagram) -> Void) {
        self.transmit = transmit
    }

    /// Runs `body`, which hands one received message to the engine. Then it
    /// sends the datagrams the engine produced meanwhile, or keeps them back.
    func handling(_ body: () -> Void) {
        collecting = []
        installID = nil
        body()
        let datagrams = collecting ?? []
        collecting = nil
        guard let installID else {
            datagrams.forEach(transmit)
            return
        }
        if !datagrams.isEmpty { held.append((installID, datagrams)) }
    }

    /// Sends `datagram` now, or collects it while a message is being handled.
    func send(_ datagram: IKEDatagram) {
        if collecting != nil {
            collecting?.append(datagram)
        } else {
            transmit(datagram)
        }
    }

    /// Records an install queued while a message is being handled.
    func noteInstall(id: Int64) {
        if collecting != nil { installID = max(installID ?? id, id) }
    }

    /// Sends the datagrams that waited for the operation `id`: sa-manager
    /// confirms or rejects the queued operations in order, so every earlier
    /// one is done too. A rejected install releases its datagrams as well,
    /// because holding them would only make the peer retransmit.
    func operationDone(id: Int64) {
        while let first = held.first, first.waitFor <= id {
            held.removeFirst()
            first.datagrams.forEach(transmit)
        }
    }

    /// The number of datagrams waiting for an install.
    var heldCount: Int { held.reduce(0) { $0 + $1.datagrams.count } }
}
