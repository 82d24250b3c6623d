// NAT detection (RFC 7296 §2.23): each peer sends SHA-1 hashes of the
// addresses and ports it uses, and compares the peer's hashes with the
// addresses and ports on the received datagram.

import TaglineCore

/// The hashes carried in NAT_DETECTION_SOURCE_IP and NAT_DETECTION_DESTINATION_IP.
public enum NATDetection {
    /// SHA-1(SPIi | SPIr | IP address | port); SPIr is zero in the IKE_SA_INIT request.
    public static func hash(
        initiatorSPI: UInt64, responderSPI: UInt64, address: IPAddress,
        port: UInt16
    ) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(initiatorSPI)
        writer.append(responderSPI)
        writer.append(contentsOf: address.bytes)
        writer.append(port)
        return SHA1.hash(writer.bytes)
    }

    /// Builds the two notifies a sender adds to IKE_SA_INIT: its own source, then
    /// the destination.
    public static func notifies(
        initiatorSPI: UInt64, responderSPI: UInt64,
        local: IKEEndpoint, remote: IKEEndpoint
    ) -> [IKEPayload] {
        let source = hash(
            initiatorSPI: initiatorSPI, responderSPI: responderSPI,
            address: local.address, port: local.port)
        let destination = hash(
            initiatorSPI: initiatorSPI, responderSPI: responderSPI,
            address: remote.address, port: remote.port)
        return [
            .notify(NotifyPayload(type: .natDetectionSourceIP, data: source)),
            .notify(NotifyPayload(type: .natDetectionDestinationIP, data: destination)),
        ]
    }

    /// The NAT detection outcome for one received message.
    public struct Result: Equatable, Sendable, Codable {
        /// The peer's source hash matches none of the addresses we see it from.
        public var remoteBehindNAT: Bool
        /// The peer's destination hash does not match our own address and port.
        public var localBehindNAT: Bool
        public var isDetected: Bool { remoteBehindNAT || localBehindNAT }
    }

    /// Compares the NAT detection notifies of `message`, received from `remote`
    /// on `local`; nil when the message carries none (the peer does not support NAT-T).
    ///
    /// The hashes use the SPIs of the message's header (RFC 7296 §2.23).
    public static func evaluate(_ message: IKEMessage, local: IKEEndpoint, remote: IKEEndpoint)
        -> Result?
    {
        let sources = message.notifies.filter { $0.type == .natDetectionSourceIP }.map(\.data)
        let destinations = message.notifies.filter { $0.type == .natDetectionDestinationIP }
            .map(\.data)
        guard !sources.isEmpty, !destinations.isEmpty else { return nil }
        let spiI = message.header.initiatorSPI
        let spiR = message.header.responderSPI
        let expectedSource = hash(
            initiatorSPI: spiI, responderSPI: spiR,
            address: remote.address, port: remote.port)
        let expectedDestination = hash(
            initiatorSPI: spiI, responderSPI: spiR,
            address: local.address, port: local.port)
        return Result(
            remoteBehindNAT: !sources.contains(expectedSource),
            localBehindNAT: !destinations.contains(expectedDestination))
    }
}
