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
            } else if delete.protocolID == SecurityProtocol.esp.rawValue {
                // The peer names its inbound SPIs, which are our outbound ones.
                for spi in delete.espSPIs {
                    guard let index = sa.childSAs.firstIndex(where: { $0.outboundSPI == spi })
                    else { continue }
                    let child = sa.childSAs.remove(at: index)
                    deletedInbound.append(child.inboundSPI)
                    sa.replacedChildSPIs?.removeAll { $0 == child.inboundSPI }
                    sa.queuedRekeys?.removeAll { $0 == child.inboundSPI }
                    sa.queuedChildDeletes?.removeAll { $0 == child.inboundSPI }
                    log(
                        .notice,
                        "\(peer): Child SA 0x\(String(child.inboundSPI, radix: 16)) "
                            + "deleted by peer")
                    delegate?.engine(self, deleteChildSA: child.inboundSPI)
                }
            }
        }
        for notify in message.notifies where notify.type.isError {
            log(.warning, "\(peer): peer reported \(notify.type)")
        }

        if deletesIKESA {
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
        sendResponse(
            .informational, messageID: message.header.messageID, payloads, &sa, keys: keys)
    }
}
