// ESN resynchronization on the inbound path (RFC 4303 Appendix A3.2): the
// packet whose ICV failure completes a run of failures is verified again with
// the next values of the high 32 bits. ESNResync decides when and how many
// tries, and this file runs them with the worker's own contexts.

import TaglineCore
import TaglineCrypto

/// Outcome of the retries after an ICV failure.
enum IntegrityRetry {
    /// The packet verified with these 64 bits, which are right of the replay window.
    case verified(UInt64)
    /// The packet stays dropped for this reason.
    case failed(DropReason)
}

extension Pipeline {
    /// Retries the HMAC of a packet whose ICV failed under `sequence`, with the next higher
    /// values of the high 32 bits, when the SA's failure run allows it.
    func retryICV(
        _ authenticated: UnsafeRawBufferPointer, sequence: UInt64, icv: UnsafeRawBufferPointer,
        state: SAState, transform: ESPTransform, mac: HMACContext
    ) -> IntegrityRetry {
        retryHigherSequences(sequence, state: state, transform: transform) { candidate in
            verifyICV(
                authenticated, sequence: candidate, icv: icv, transform: transform, mac: mac)
        }
    }

    /// Retries the AEAD open of a packet whose tag failed under `sequence`. A failed open
    /// leaves `plaintext` overwritten, so each try copies the ciphertext from `esp` again.
    func retryOpen(
        _ esp: UnsafeRawBufferPointer, sequence: UInt64, state: SAState,
        transform: ESPTransform, cipher: any AEADCipher, ciphertextOffset: Int,
        plaintext: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer,
        icv: UnsafeRawBufferPointer
    ) -> IntegrityRetry {
        let ciphertext = esp.slice(ciphertextOffset, plaintext.count)
        return retryHigherSequences(sequence, state: state, transform: transform) { candidate in
            plaintext.copyMemory(from: ciphertext)
            let opened = try? transform.withAAD(esp: esp, sequence: candidate) { aad in
                try cipher.open(explicitIV: iv, aad: aad, data: plaintext, tag: icv)
            }
            return opened == true
        }
    }

    /// Retries the out-of-place AEAD open of a packet whose tag failed under `sequence`. The
    /// ciphertext stays in `esp`, so each try decrypts it again into `plaintext`.
    func retryPacketOpen(
        _ esp: UnsafeRawBufferPointer, sequence: UInt64, state: SAState,
        transform: ESPTransform, aead: AEADPacketCipher, plaintext: UnsafeMutableRawPointer,
        bodyOffset: Int, bodyLength: Int
    ) -> IntegrityRetry {
        guard let base = esp.baseAddress else { return .failed(.integrityFailed) }
        return retryHigherSequences(sequence, state: state, transform: transform) { candidate in
            let outcome = transform.withAAD(esp: esp, sequence: candidate) { aad in
                aead.open(
                    explicitIV: base + ESPLayout.headerSize, aad: aad.baseAddress!,
                    aadLength: aad.count, input: base + bodyOffset, output: plaintext,
                    dataLength: bodyLength, tag: base + bodyOffset + bodyLength)
            }
            return outcome == .verified
        }
    }

    /// Counts the failure and, when it completes a run of the SA's trigger length, runs
    /// `verify` on `sequence` plus 2^32, 2^33 and so on, up to the SA's tries. Only
    /// candidates that the replay window would accept are tried.
    private func retryHigherSequences(
        _ sequence: UInt64, state: SAState, transform: ESPTransform,
        verify: (UInt64) -> Bool
    ) -> IntegrityRetry {
        let tries = state.resync.recordFailure()
        guard transform.extendedSequenceNumbers, tries > 0 else {
            return .failed(.integrityFailed)
        }
        var candidate = sequence
        for _ in 0..<tries {
            let (next, overflow) = candidate.addingReportingOverflow(1 << 32)
            guard !overflow else { break }
            candidate = next
            guard state.replayWindow.check(candidate) == .accept else { continue }
            if verify(candidate) {
                state.resync.recordResynchronization()
                return .verified(candidate)
            }
        }
        return .failed(.resyncFailed)
    }
}
