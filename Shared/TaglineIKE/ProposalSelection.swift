// Building SA proposals from the configuration and choosing among a peer's
// proposals (RFC 7296 §2.7, §3.3).

import TaglineConfig
import TaglineCore

/// ESN transform ID 0: no extended sequence numbers.
let noExtendedSequenceNumbers: UInt16 = 0
/// ESN transform ID 1: extended (64-bit) sequence numbers (RFC 7296 §3.3.2).
let extendedSequenceNumbers: UInt16 = 1

extension EncryptionAlgorithm {
    /// The ENCR transform, with a Key Length attribute for AES.
    var transform: Transform {
        Transform(type: .encryption, id: transformID, keyLength: keyLengthAttribute)
    }
}

enum ProposalSelection {
    // MARK: IKE SA

    /// Converts the configured IKEv2 proposals into SA proposals, in order. A
    /// proposal that mixes AEAD and other ciphers becomes two, because AES-GCM
    /// and ChaCha20-Poly1305 may not be combined with an integrity transform
    /// (RFC 5282 §8, RFC 7634 §4). `spi` is empty in IKE_SA_INIT and the
    /// sender's new 8-byte SPI in an IKE SA rekey.
    static func ikeProposals(_ configured: [IKEv2Proposal], spi: [UInt8] = []) -> [Proposal] {
        var result: [Proposal] = []
        for entry in configured {
            let aead = entry.encryption.filter(\.isAEAD)
            let plain = entry.encryption.filter { !$0.isAEAD }
            for ciphers in [plain, aead] where !ciphers.isEmpty {
                var transforms = ciphers.map(\.transform)
                transforms += entry.prf.map { Transform(type: .prf, id: $0.transformID) }
                if !ciphers[0].isAEAD {
                    guard !entry.integrity.isEmpty else { continue }
                    transforms += entry.integrity.map {
                        Transform(type: .integrity, id: $0.transformID)
                    }
                }
                transforms += entry.groups.map { Transform(type: .diffieHellman, id: $0.rawValue) }
                result.append(
                    Proposal(
                        number: UInt8(truncatingIfNeeded: result.count + 1), protocol: .ike,
                        spi: spi, transforms: transforms))
            }
        }
        return result
    }

    /// Chooses one set of IKE algorithms from the peer's proposals.
    ///
    /// The peer's proposals are tried in its order; for each, the configured
    /// proposals in configuration order. The DH group of the peer's KE payload
    /// wins when acceptable, which saves an INVALID_KE_PAYLOAD round trip.
    /// Returns the algorithms and the single proposal to send back, without
    /// an SPI. Proposals must carry an SPI of `spiLength` bytes: 0 in
    /// IKE_SA_INIT, 8 in an IKE SA rekey.
    static func chooseIKE(
        offered: [Proposal], configured: [IKEv2Proposal], keGroup: UInt16?, spiLength: Int = 0
    ) -> (IKEAlgorithms, Proposal)? {
        for proposal in offered {
            guard proposal.securityProtocol == .ike, proposal.spi.count == spiLength,
                !proposal.transforms.contains(where: \.hasUnknownAttributes)
            else { continue }
            for entry in configured {
                guard let algorithms = match(proposal, entry, keGroup: keGroup) else { continue }
                return (algorithms, ikeProposal(algorithms, number: proposal.number))
            }
        }
        return nil
    }

    /// Builds the IKE proposal that offers exactly `algorithms`.
    static func ikeProposal(_ algorithms: IKEAlgorithms, number: UInt8 = 1, spi: [UInt8] = [])
        -> Proposal
    {
        var transforms = [
            algorithms.encryption.transform,
            Transform(type: .prf, id: algorithms.prf.transformID),
        ]
        if let integrity = algorithms.integrity {
            transforms.append(Transform(type: .integrity, id: integrity.transformID))
        }
        transforms.append(Transform(type: .diffieHellman, id: algorithms.dhGroup.rawValue))
        return Proposal(number: number, protocol: .ike, spi: spi, transforms: transforms)
    }

    /// Returns the 8 bytes of an IKE SPI as an SA proposal carries them.
    static func spiBytes(_ spi: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: spi >> UInt64(56 - 8 * $0)) }
    }

    private static func match(_ proposal: Proposal, _ entry: IKEv2Proposal, keGroup: UInt16?)
        -> IKEAlgorithms?
    {
        let ciphers = proposal.transforms(of: .encryption).compactMap {
            EncryptionAlgorithm(transformID: $0.id, keyLength: $0.keyLength)
        }
        guard let encryption = ciphers.first(where: { entry.encryption.contains($0) }) else {
            return nil
        }
        let prfs = proposal.transforms(of: .prf).compactMap { PRFAlgorithm(transformID: $0.id) }
        guard let prf = prfs.first(where: { entry.prf.contains($0) }) else { return nil }

        var integrity: IntegrityAlgorithm?
        let offeredIntegrity = proposal.transforms(of: .integrity).filter { $0.id != 0 }
        if encryption.isAEAD {
            guard offeredIntegrity.isEmpty else { return nil }
        } else {
            let integrities = offeredIntegrity.compactMap { IntegrityAlgorithm(transformID: $0.id) }
            guard let chosen = integrities.first(where: { entry.integrity.contains($0) }) else {
                return nil
            }
            integrity = chosen
        }

        let groups = proposal.transforms(of: .diffieHellman).compactMap {
            DHGroup(rawValue: $0.id)
        }.filter { entry.groups.contains($0) }
        let preferred = groups.first { $0.rawValue == keGroup } ?? groups.first
        guard let group = preferred else { return nil }
        return IKEAlgorithms(encryption: encryption, integrity: integrity, prf: prf, dhGroup: group)
    }

    /// Reads the algorithms of the single proposal a responder returned, and
    /// checks that each of them was offered in `offered`.
    static func acceptIKE(response: SAPayload, offered: [Proposal]) throws -> IKEAlgorithms {
        guard response.proposals.count == 1, let chosen = response.proposals.first,
            let original = offered.first(where: { $0.number == chosen.number })
        else {
            throw IKEProtocolError.noProposalChosen("responder returned an invalid SA payload")
        }
        for transform in chosen.transforms where !original.transforms.contains(transform) {
            throw IKEProtocolError.noProposalChosen(
                "responder chose transform \(transform.rawType)/\(transform.id), not offered")
        }
        let encryptions = chosen.transforms(of: .encryption)
        let prfs = chosen.transforms(of: .prf)
        let groups = chosen.transforms(of: .diffieHellman)
        let integrities = chosen.transforms(of: .integrity).filter { $0.id != 0 }
        guard encryptions.count == 1, prfs.count == 1, groups.count == 1, integrities.count <= 1,
            let encryption = EncryptionAlgorithm(
                transformID: encryptions[0].id, keyLength: encryptions[0].keyLength),
            let prf = PRFAlgorithm(transformID: prfs[0].id),
            let group = DHGroup(rawValue: groups[0].id)
        else {
            throw IKEProtocolError.noProposalChosen("responder returned an incomplete proposal")
        }
        let integrity = integrities.first.flatMap { IntegrityAlgorithm(transformID: $0.id) }
        guard encryption.isAEAD == (integrity == nil) else {
            throw IKEProtocolError.noProposalChosen("responder returned an incomplete proposal")
        }
        return IKEAlgorithms(encryption: encryption, integrity: integrity, prf: prf, dhGroup: group)
    }

    // MARK: ESP

    /// Builds one ESP proposal per transform set, each naming `spi`, the ESN
    /// choices and, with PFS, the DH group of the KE payload sent with it. With
    /// `offersExtendedSequenceNumbers` a proposal lists "ESN" before "no ESN",
    /// so the responder may choose either; otherwise it lists only "no ESN".
    static func espProposals(
        _ transforms: [ESPTransform], spi: UInt32, pfsGroup: DHGroup? = nil,
        offersExtendedSequenceNumbers: Bool = false
    ) -> [Proposal] {
        let esnIDs =
            offersExtendedSequenceNumbers
            ? [extendedSequenceNumbers, noExtendedSequenceNumbers] : [noExtendedSequenceNumbers]
        return transforms.enumerated().map { index, set in
            Proposal(
                number: UInt8(truncatingIfNeeded: index + 1), protocol: .esp,
                spi: spiBytes(spi),
                transforms: espTransforms(set, pfsGroup: pfsGroup, esnIDs: esnIDs))
        }
    }

    /// Returns the transforms of one ESP proposal for `set`: ENCR, INTEG, DH with PFS, then
    /// one ESN transform per entry of `esnIDs`.
    static func espTransforms(
        _ set: ESPTransform, pfsGroup: DHGroup? = nil,
        esnIDs: [UInt16] = [noExtendedSequenceNumbers]
    ) -> [Transform] {
        var transforms = [set.encryption.transform]
        if let integrity = set.integrity {
            transforms.append(Transform(type: .integrity, id: integrity.transformID))
        }
        if let pfsGroup {
            transforms.append(Transform(type: .diffieHellman, id: pfsGroup.rawValue))
        }
        transforms += esnIDs.map { Transform(type: .extendedSequenceNumbers, id: $0) }
        return transforms
    }

    static func spiBytes(_ spi: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: spi >> UInt32(24 - 8 * $0)) }
    }

    /// Chooses the first offered ESP proposal that one of `transforms` fully
    /// covers. Returns the transform set, the peer's SPI, the proposal to return
    /// (with `ourSPI` in it) and whether it uses extended sequence numbers.
    ///
    /// ESN is chosen when the proposal offers only ESN, or offers both and
    /// `prefersExtendedSequenceNumbers` is set. A proposal without an ESN
    /// transform is read as "no ESN".
    ///
    /// `dh` sets what the proposal's DH transforms must allow: `.group` a
    /// proposal listing that group (PFS with the KE payload received), `.none`
    /// one that lists no group or NONE (0), and `.ignored` any proposal, as in
    /// IKE_AUTH, whose Child SA has no KE payload (RFC 7296 §1.2).
    static func chooseESP(
        offered: [Proposal], transforms: [ESPTransform], ourSPI: UInt32,
        dh: DHRequirement = .ignored, prefersExtendedSequenceNumbers: Bool = false
    ) -> (ESPTransform, peerSPI: UInt32, Proposal, extendedSequenceNumbers: Bool)? {
        for proposal in offered {
            guard proposal.securityProtocol == .esp, let peerSPI = proposal.espSPI,
                !proposal.transforms.contains(where: \.hasUnknownAttributes)
            else { continue }
            let groups = proposal.transforms(of: .diffieHellman).map(\.id)
            var pfsGroup: DHGroup?
            switch dh {
            case .ignored:
                break
            case .none:
                guard groups.isEmpty || groups.contains(0) else { continue }
            case .group(let group):
                guard groups.contains(group.rawValue) else { continue }
                pfsGroup = group
            }
            let esns = proposal.transforms(of: .extendedSequenceNumbers).map(\.id)
            let offersESN = esns.contains(extendedSequenceNumbers)
            let offersNoESN = esns.isEmpty || esns.contains(noExtendedSequenceNumbers)
            guard offersESN || offersNoESN else { continue }
            let usesESN = offersESN && (prefersExtendedSequenceNumbers || !offersNoESN)
            let ciphers = proposal.transforms(of: .encryption).compactMap {
                EncryptionAlgorithm(transformID: $0.id, keyLength: $0.keyLength)
            }
            let integrities = proposal.transforms(of: .integrity).compactMap {
                $0.id == 0 ? nil : IntegrityAlgorithm(transformID: $0.id)
            }
            for set in transforms {
                guard ciphers.contains(set.encryption) else { continue }
                if let integrity = set.integrity {
                    guard integrities.contains(integrity) else { continue }
                } else if !set.encryption.isAEAD {
                    continue
                }
                let chosen = Proposal(
                    number: proposal.number, protocol: .esp, spi: spiBytes(ourSPI),
                    transforms: espTransforms(
                        set, pfsGroup: pfsGroup,
                        esnIDs: [usesESN ? extendedSequenceNumbers : noExtendedSequenceNumbers]))
                return (set, peerSPI, chosen, usesESN)
            }
        }
        return nil
    }

    /// Reads the responder's single ESP proposal and finds the transform set it
    /// matches. With PFS the proposal must name `pfsGroup` as its only DH
    /// group; without, it may name none or NONE (0). The proposal must name one
    /// ESN transform that was offered, and ESN counts as offered only with
    /// `offeredExtendedSequenceNumbers`. The returned flag is true for ESN.
    static func acceptESP(
        response: SAPayload, offered: [ESPTransform], pfsGroup: DHGroup? = nil,
        offeredExtendedSequenceNumbers: Bool = false
    ) throws -> (ESPTransform, peerSPI: UInt32, extendedSequenceNumbers: Bool) {
        guard response.proposals.count == 1, let chosen = response.proposals.first,
            chosen.securityProtocol == .esp, let peerSPI = chosen.espSPI,
            Int(chosen.number) >= 1, Int(chosen.number) <= offered.count
        else {
            throw IKEProtocolError.noProposalChosen("responder returned an invalid ESP proposal")
        }
        let set = offered[Int(chosen.number) - 1]
        let esns = chosen.transforms(of: .extendedSequenceNumbers).map(\.id)
        let allowed =
            offeredExtendedSequenceNumbers
            ? [extendedSequenceNumbers, noExtendedSequenceNumbers] : [noExtendedSequenceNumbers]
        guard esns.count == 1, allowed.contains(esns[0]) else {
            throw IKEProtocolError.noProposalChosen(
                "responder chose ESN transforms \(esns) in ESP proposal \(chosen.number), "
                    + "expected one of \(allowed)")
        }
        let expected = espTransforms(set, esnIDs: esns)
        let received = chosen.transforms.filter {
            $0.rawType != TransformType.diffieHellman.rawValue
        }
        guard received.count == expected.count, received.allSatisfy({ expected.contains($0) })
        else {
            throw IKEProtocolError.noProposalChosen(
                "responder changed ESP proposal \(chosen.number)")
        }
        let groups = chosen.transforms(of: .diffieHellman).map(\.id).filter { $0 != 0 }
        guard groups == (pfsGroup.map { [$0.rawValue] } ?? []) else {
            throw IKEProtocolError.noProposalChosen(
                "responder chose DH groups \(groups), expected \(pfsGroup?.rawValue ?? 0)")
        }
        return (set, peerSPI, esns[0] == extendedSequenceNumbers)
    }
}

/// The condition on the DH transforms of an offered ESP proposal.
enum DHRequirement: Equatable {
    /// DH transforms do not matter, as in IKE_AUTH.
    case ignored
    /// No PFS: the proposal lists no DH group, or NONE (0).
    case none
    /// PFS in this group: the proposal lists it.
    case group(DHGroup)
}
