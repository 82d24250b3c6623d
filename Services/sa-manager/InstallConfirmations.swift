// Replies to Child SA installs once the dataplane has the SA. The dataplane
// requests a sequence-number lease for each SA right after it has put the SA
// into its tables, so that request confirms the install. The negotiator
// sends the IKE response that creates the SA only after this reply, so the
// peer, which may send on the SA once it has the response, never reaches a
// dataplane without it.

import TaglineBus
import TaglineCore

final class InstallConfirmations {
    /// Maximum wait for the dataplane before the reply goes out anyway, as
    /// for an SA the dataplane could not install. It is below the 2 s after
    /// which the negotiator's request times out.
    static let maximumWait = 1.0
    /// Interval of the pings that tell whether a dataplane is running.
    static let pingInterval = 1.0

    private let bus: ServiceBus
    private let logger: Logger
    /// Install requests waiting for the dataplane, by inbound SPI.
    private var waiting: [UInt32: [(responder: Responder, deadline: Double)]] = [:]
    /// SPIs the dataplane has leased sequence numbers for.
    private var leased: Set<UInt32> = []
    /// Whether the dataplane replied to the last ping. Without a dataplane,
    /// installs are confirmed as soon as they are stored.
    private(set) var dataplaneRunning = false

    init(bus: ServiceBus) {
        self.bus = bus
        self.logger = bus.logger
        bus.loop.addTimer(every: InstallConfirmations.pingInterval) { [weak self] in
            self?.pingDataplane()
            self?.expire(now: wallClockSeconds())
        }
        pingDataplane()
    }

    /// Replies to the install of `inboundSPI` now when no dataplane runs or it
    /// has the SA already, otherwise once it leases sequence numbers for it.
    func confirmWhenInstalled(_ inboundSPI: UInt32, _ responder: Responder) {
        guard dataplaneRunning, !leased.contains(inboundSPI) else {
            return responder.reply(EmptyReply())
        }
        let deadline = wallClockSeconds() + InstallConfirmations.maximumWait
        waiting[inboundSPI, default: []].append((responder, deadline))
    }

    /// Records a lease request from the dataplane for `inboundSPI`.
    func leaseRequested(_ inboundSPI: UInt32, by sender: String) {
        guard sender == ServiceName.dataplane.rawValue else { return }
        leased.insert(inboundSPI)
        if !dataplaneRunning {
            dataplaneRunning = true
            logger.notice("CHILD", "dataplane-tagger is running; installs wait for it")
        }
        reply(inboundSPI)
    }

    /// Forgets a deleted SA and replies to installs still waiting for it.
    func deleted(_ inboundSPI: UInt32) {
        leased.remove(inboundSPI)
        reply(inboundSPI)
    }

    private func reply(_ inboundSPI: UInt32) {
        for entry in waiting.removeValue(forKey: inboundSPI) ?? [] {
            entry.responder.reply(EmptyReply())
        }
    }

    /// Replies to installs that waited `maximumWait` without a confirmation.
    func expire(now: Double) {
        for (spi, entries) in waiting {
            let due = entries.filter { $0.deadline <= now }
            guard !due.isEmpty else { continue }
            logger.warning(
                "CHILD",
                "\(hex(spi)): dataplane-tagger did not lease sequence numbers within "
                    + "\(InstallConfirmations.maximumWait) s; confirming the install anyway")
            for entry in due { entry.responder.reply(EmptyReply()) }
            let rest = entries.filter { $0.deadline > now }
            waiting[spi] = rest.isEmpty ? nil : rest
        }
    }

    // NOTE: a dataplane too busy to reply to one ping within 0.5 s counts as
    // stopped until the next ping, and installs in that window are confirmed
    // without waiting for it.
    private func pingDataplane() {
        bus.client(.dataplane).send(
            MessageType.ping, EmptyRequest(), as: PingReply.self,
            timeout: InstallConfirmations.pingInterval / 2, loop: bus.loop
        ) { [weak self] result in
            guard let self else { return }
            let running: Bool
            if case .success = result { running = true } else { running = false }
            guard running != self.dataplaneRunning else { return }
            self.dataplaneRunning = running
            if running {
                self.logger.notice("CHILD", "dataplane-tagger is running; installs wait for it")
            } else {
                self.logger.notice(
                    "CHILD", "dataplane-tagger is not running; installs are confirmed when stored")
                // Nothing will lease these now.
                for spi in Array(self.waiting.keys) { self.reply(spi) }
            }
        }
    }
}
