// The measured loops of tagline-bench pipeline: the bare OpenSSL seal and
// open, the outbound path, and the inbound path fed by the outbound one.

import COpenSSL
import TaglineCore
import TaglineDataplane

#if canImport(Glibc)
    import Glibc
#endif

@inline(__always)
func nowNanoseconds() -> UInt64 { monotonicNanoseconds() }

/// AES-128-GCM as ESP uses it, straight on OpenSSL EVP: key set once, then per packet the
/// nonce salt || sequence number, the 8-byte ESP header as AAD, the data and the tag.
final class BareGCM {
    private let context: OpaquePointer
    private let nonce = UnsafeMutablePointer<UInt8>.allocate(capacity: 12)
    /// ESP header, IV, data and tag, reused for every packet.
    let buffer: UnsafeMutableRawPointer
    /// Ciphertext and tag that `open` decrypts into `buffer`.
    private let sealed: UnsafeMutableRawPointer
    let dataLength: Int

    init(keyMaterial: [UInt8], dataLength: Int, encrypt: Bool) throws {
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-128-GCM", nil),
            let context = EVP_CIPHER_CTX_new()
        else {
            throw PipelineRateFailure(
                description: "AES-128-GCM not found in the loaded OpenSSL providers")
        }
        self.context = context
        self.dataLength = dataLength
        let initialised = keyMaterial.withUnsafeBufferPointer {
            EVP_CipherInit_ex(context, cipher, nil, $0.baseAddress, nil, encrypt ? 1 : 0)
        }
        guard initialised == 1 else {
            throw PipelineRateFailure(description: "EVP_CipherInit_ex failed")
        }
        for index in 0..<4 { nonce[index] = keyMaterial[16 + index] }
        buffer = .allocate(byteCount: 16 + dataLength + 16, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0x5A, count: 16 + dataLength + 16)
        sealed = .allocate(byteCount: 16 + dataLength + 16, alignment: 64)
        if !encrypt {
            // Seal one packet with a second context, so every open verifies its tag.
            let sealer = try BareGCM(
                keyMaterial: keyMaterial, dataLength: dataLength, encrypt: true)
            guard sealer.seal(sequence: 1) else {
                throw PipelineRateFailure(description: "bare seal failed")
            }
            sealed.copyMemory(from: sealer.buffer, byteCount: 16 + dataLength + 16)
        }
    }

    deinit {
        EVP_CIPHER_CTX_free(context)
        nonce.deallocate()
        buffer.deallocate()
        sealed.deallocate()
    }

    /// Writes the header and IV for `sequence` into `buffer` and the nonce.
    @inline(__always)
    private func prepare(_ header: UnsafeMutableRawPointer, sequence: UInt64) {
        header.storeBytes(of: BenchLab.spiAtGW2.bigEndian, toByteOffset: 0, as: UInt32.self)
        header.storeBytes(
            of: UInt32(truncatingIfNeeded: sequence).bigEndian, toByteOffset: 4, as: UInt32.self)
        header.storeBytes(of: sequence.bigEndian, toByteOffset: 8, as: UInt64.self)
        UnsafeMutableRawPointer(nonce + 4).copyMemory(from: header + 8, byteCount: 8)
    }

    /// Encrypts the data in `buffer` in place and writes the tag after it.
    @inline(__always)
    func seal(sequence: UInt64) -> Bool {
        prepare(buffer, sequence: sequence)
        let bytes = buffer.assumingMemoryBound(to: UInt8.self)
        var written: Int32 = 0
        var final: UInt8 = 0
        return EVP_CipherInit_ex(context, nil, nil, nil, nonce, -1) == 1
            && EVP_CipherUpdate(context, nil, &written, bytes, 8) == 1
            && EVP_CipherUpdate(context, bytes + 16, &written, bytes + 16, Int32(dataLength))
                == 1
            && EVP_CipherFinal_ex(context, &final, &written) == 1
            && EVP_CIPHER_CTX_ctrl(
                context, EVP_CTRL_AEAD_GET_TAG, 16, bytes + 16 + dataLength) == 1
    }

    /// Decrypts the packet sealed at creation into `buffer` and checks its tag.
    @inline(__always)
    func open() -> Bool {
        let input = sealed.assumingMemoryBound(to: UInt8.self)
        UnsafeMutableRawPointer(nonce + 4).copyMemory(from: sealed + 8, byteCount: 8)
        let output = buffer.assumingMemoryBound(to: UInt8.self)
        var written: Int32 = 0
        var final: UInt8 = 0
        return EVP_CipherInit_ex(context, nil, nil, nil, nonce, -1) == 1
            && EVP_CipherUpdate(context, nil, &written, input, 8) == 1
            && EVP_CipherUpdate(context, output + 16, &written, input + 16, Int32(dataLength))
                == 1
            && EVP_CIPHER_CTX_ctrl(
                context, EVP_CTRL_AEAD_SET_TAG, 16, input + 16 + dataLength) == 1
            && EVP_CipherFinal_ex(context, &final, &written) == 1
    }
}

/// One benchmark case: what it runs and how many packets.
enum PipelineCase: String, CaseIterable {
    case bareSeal = "bare-seal"
    case bareOpen = "bare-open"
    case outbound = "outbound"
    case untaggedOutbound = "untagged-outbound"
    /// Outbound then inbound; only the inbound bursts are timed.
    case roundTrip = "round-trip"
    case untaggedRoundTrip = "untagged-round-trip"

    var tagged: Bool { self != .untaggedOutbound && self != .untaggedRoundTrip }

    /// Runs `packets` packets of `size` inner bytes, after `warmup` packets (a tenth of
    /// `packets` when nil), and returns the nanoseconds the timed part took.
    func run(size: Int, packets: Int, warmup: Int?, perf: PerfControl?) throws -> UInt64 {
        let warmup = warmup ?? packets / 10
        switch self {
        case .bareSeal, .bareOpen:
            let gcm = try BareGCM(
                keyMaterial: BenchLab.keyGW1ToGW2,
                dataLength: BenchLab.sealedLength(innerSize: size, tagged: true),
                encrypt: self == .bareSeal)
            let body = { (count: Int, first: UInt64) throws -> UInt64 in
                let start = nowNanoseconds()
                for index in 0..<count {
                    let done =
                        self == .bareSeal ? gcm.seal(sequence: first + UInt64(index)) : gcm.open()
                    guard done else {
                        throw PipelineRateFailure(
                            description: "bare AES-GCM failed at packet \(index)")
                    }
                }
                return nowNanoseconds() - start
            }
            _ = try body(warmup, 1)
            return try measuredLoop(perf) { try body(packets, UInt64(packets)) }
        case .outbound, .untaggedOutbound:
            let gw1 = try BenchLab.gateway(gw1: true, tagging: tagged)
            let frame = BenchLab.frame(innerSize: size)
            return try frame.withUnsafeBytes { bytes in
                let body = { (count: Int) throws -> UInt64 in
                    var elapsed: UInt64 = 0
                    var left = count
                    while left > 0 {
                        let burst = min(left, BenchLab.burst)
                        let start = nowNanoseconds()
                        let sent = gw1.runInside(count: burst) { _ in bytes }
                        elapsed += nowNanoseconds() - start
                        guard sent == burst else { throw notForwarded(gw1, sent, burst) }
                        left -= burst
                    }
                    return elapsed
                }
                _ = try body(warmup)
                return try measuredLoop(perf) { try body(packets) }
            }
        case .roundTrip, .untaggedRoundTrip:
            let gw1 = try BenchLab.gateway(gw1: true, tagging: tagged)
            let gw2 = try BenchLab.gateway(gw1: false, tagging: tagged)
            let frame = BenchLab.frame(innerSize: size)
            return try frame.withUnsafeBytes { bytes in
                let body = { (count: Int) throws -> UInt64 in
                    var elapsed: UInt64 = 0
                    var left = count
                    while left > 0 {
                        let burst = min(left, BenchLab.burst)
                        let sent = gw1.runInside(count: burst) { _ in bytes }
                        guard sent == burst else { throw notForwarded(gw1, sent, burst) }
                        let start = nowNanoseconds()
                        let delivered = gw2.runOutside(count: burst) { gw1.outside.frame($0) }
                        elapsed += nowNanoseconds() - start
                        guard delivered == burst else { throw notForwarded(gw2, delivered, burst) }
                        left -= burst
                    }
                    return elapsed
                }
                _ = try body(warmup)
                return try measuredLoop(perf) { try body(packets) }
            }
        }
    }

    private func notForwarded(_ gateway: MemoryPipeline, _ sent: Int, _ burst: Int)
        -> PipelineRateFailure
    {
        let drops = gateway.context.dropTotals().map { "\($0.key) \($0.value)" }.sorted()
        return PipelineRateFailure(
            description: "\(rawValue): \(sent) of \(burst) packets forwarded; drops: "
                + drops.joined(separator: ", "))
    }
}
