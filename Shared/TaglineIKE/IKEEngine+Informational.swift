// INFORMATIONAL exchanges (RFC 7296 §1.4): Deletes of the IKE SA or of
// Child SAs, and empty liveness checks; plus the dispatch of responses.

import TaglineCore

extension IKEEngine {
    /// Dispatches a response to this side's outstanding request.
    func handleResponse(
        _ received: ReceivedMessage, _ datagram: IKEDatagram,
        _ sa: inout IKESAState
    ) {
        let header = received.header
        if header.exchangeType == .ikeSAInit {
            guard sa.phase == .initSent else {
                drop("unexpected response", "\(sa.remote.address): late IKE_SA_INIT response")
                return
            }
            handleInitResponse(received, datagram, &sa)
            return
        }

        guard let keys = sa.receiveKeys else {
            drop("no keys", "\(sa.remote.address): response before keys exist")
            return
        }
        let message: IKEMessage
        guard
            let opened = openProtected(
                received, sa, keys: keys, isRetransmission: false,
                "\(header.exchangeType) response \(header.messageID)")
        else { return }
        switch opened {
        case .rejected:
            return
        case .malformedInside(let error):
            // The request stays outstanding, so it is retransmitted as scheduled.
            drop("malformed", "\(sa.remote.address): malformed response: \(error)")
            return
        case .authentic(let opened):
            message = opened
        }
        sa.lastReceivedAt = clock()

        // An authentic response from a new NAT port moves the SA there.
        if datagram.local.port == IKEEndpoint.natTraversalPort {
            sa.remote = datagram.remote
        }

        switch header.exchangeType {
        case .ikeAuth where sa.phase == .authSent:
            handleAuthResponse(message, &sa)
        case .createChildSA:
            handleCreateChildResponse(message, &sa)
        case .informational:
            sa.outstanding = nil
            sa.dpdMessageID = nil
            if sa.phase == .deleting {
                removeIKESA(localSPI: sa.localSPI, reason: "deleted")
            } else {
                finishChildDeletes(&sa)
                ikeSAs[sa.localSPI] = sa
                startNextChildWork(localSPI: sa.localSPI)
            }
        default:
            drop(
                "unexpected response",
                "\(sa.remote.address): \(header.exchangeType) response in phase "
                    + sa.phase.rawValue)
        }
    }

    /// Responds to an INFORMATIONAL request: deletes what it names and logs error notifies.
    func respondToInformational(_ message: IKEMessage, _ sa: inout IKESAState) {
        let peer = sa.remote.address
        guard let keys = sa.sendKeys else { return }
        var deletesIKESA = false
        var deletedInbound: [UInt32] = []
        for delete in message.deletes {
            if delete.protocolID == SecurityProtocol.ike.rawValue {
                deletesIKESA = true
            } else if delete.protocolID == SecurityProtocol.esp.rawValue, delete.spiSize == 4 {
                // The peer names its inbound SPIs, which are our outbound ones.
                for spi in delete.espSPIs {
                    guard let index = sa.childSAs.firstIndex(where: { $0.outboundSPI == spi })
                    else {
                        // Already gone, such as after both sides deleted it at once.
                        drop(
                            "Delete for unknown SPI",
                            "\(peer): Delete for Child SA 0x\(String(spi, radix: 16)), "
                                + "which does not exist")
                        continue
                    }
                    let child = sa.childSAs.remove(at: index)
                    // When our own Delete for this pair crossed the peer's, the
                    // response must not name it again (RFC 7296 §1.4.1).
                    if !(sa.pendingChildDeletes ?? []).contains(child.inboundSPI) {
                        deletedInbound.append(child.inboundSPI)
                    }
                    sa.replacedChildSPIs?.removeAll { $0 == child.inboundSPI }
                    sa.queuedRekeys?.removeAll { $0 == child.inboundSPI }
                    sa.queuedChildDeletes?.removeAll { $0 == child.inboundSPI }
                    log(
                        .notice,
                        "\(peer): Child SA 0x\(String(child.inboundSPI, radix: 16)) "
                            + "deleted by peer")
                    delegate?.engine(self, deleteChildSA: child.inboundSPI)
                }
            } else {
                drop(
                    "Delete for unknown SPI",
                    "\(peer): Delete for protocol \(delete.protocolID) with SPI size "
                        + "\(delete.spiSize)")
            }
        }
        for notify in message.notifies where notify.type.isError {
            log(.warning, "\(peer): peer reported \(notify.type)")
        }

        if deletesIKESA {
            settleRekeyBeforeDelete(&sa)
            sendResponse(.informational, messageID: message.header.messageID, [], &sa, keys: keys)
            let key = sa.targetKey
            removeIKESA(localSPI: sa.localSPI, reason: "deleted by peer")
            if let key {
                targets[key]?.nextAttemptAt = clock() + retransmitInterval
            }
            return
        }
        let payloads: [IKEPayload] =
            deletedInbound.isEmpty
            ? [] : [.delete(DeletePayload(espSPIs: deletedInbound))]
        if !message.deletes.isEmpty { queueFreshChildrenIfNone(&sa) }
        sendResponse(
            .informational, messageID: message.header.messageID, payloads, &sa, keys: keys)
        startNextChildWork(localSPI: sa.localSPI)
    }

    /// Queues CREATE_CHILD_SA for the policies of every target that an IKE SA serves
    /// (each crypto map entry or tunnel for the peer) when it has no Child SA left and
    /// none is on its way. The side that initiated the IKE SA queues them at once. It is
    /// the side with the `targetKey`, which an IKE SA rekey keeps, while the rekey makes
    /// its own initiator the new SA's initiator. The other side waits `adoptedChildDelay`
    /// for the peer first.
    func queueFreshChildrenIfNone(_ sa: inout IKESAState) {
        guard sa.phase == .established, sa.childSAs.isEmpty,
            sa.pendingChild == nil, sa.queuedChildren.isEmpty
        else { return }
        let served = targets.keys.sorted().filter {
            $0 == sa.targetKey || targets[$0]?.ikeSPI == sa.localSPI
        }
        guard !served.isEmpty else { return }
        guard sa.targetKey != nil else {
            let due = clock() + adoptedChildDelay
            for key in served where targets[key]?.childrenDueAt == nil {
                targets[key]?.childrenDueAt = due
            }
            return
        }
        log(.notice, "\(sa.remote.address): no Child SA left, creating new ones")
        for key in served {
            for policy in targets[key]?.target.children ?? []
            where !sa.queuedChildren.contains(policy) {
                sa.queuedChildren.append(policy)
            }
        }
    }

    /// Deletes the Child SAs (IPsec SAs) of every established IKE SA, or of
    /// those with the peer `peer` only, as `clear crypto sa` does. Each
    /// pair is removed at once and named in an INFORMATIONAL Delete to the
    /// peer, and the IKE SAs stay. An initiator then creates fresh Child SAs
    /// for its target with CREATE_CHILD_SA. Returns the number of Child SAs deleted.
    @discardableResult
    public func clearChildSAs(peer: IPAddress?) -> Int {
        var cleared = 0
        let chosen = ikeSAs.values.filter {
            $0.phase == .established && (peer == nil || $0.remote.address == peer)
        }
        for var sa in chosen.sorted(by: { $0.tunnelID < $1.tunnelID }) where !sa.childSAs.isEmpty {
            let spis = sa.childSAs.map(\.inboundSPI)
            for spi in spis {
                delegate?.engine(self, deleteChildSA: spi)
            }
            log(
                .notice,
                "\(sa.remote.address): \(spis.count) Child SAs of IKE SA \(sa.tunnelID) "
                    + "cleared by operator")
            cleared += spis.count
            sa.childSAs = []
            sa.queuedRekeys = nil
            sa.replacedChildSPIs = nil
            sa.queuedChildDeletes = (sa.queuedChildDeletes ?? []) + spis
            sa.childWorkDueAt = clock()
            // NOTE: a CREATE_CHILD_SA already outstanding installs its Child SA
            // when the response arrives, and no further one is queued then.
            queueFreshChildrenIfNone(&sa)
            ikeSAs[sa.localSPI] = sa
            startNextChildWork(localSPI: sa.localSPI)
        }
        return cleared
    }
}
