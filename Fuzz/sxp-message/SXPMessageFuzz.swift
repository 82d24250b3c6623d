// libFuzzer target for the SXP message decoder. Each input is a byte stream
// as a TCP connection delivers it. The first byte picks the form that UPDATE
// messages are decoded in (even: version 4 attributes, odd: the version 3
// TLV form); the rest is cut into messages by `SXPFramer`.
//
// Checks, besides "no crash, hang or leak": every decoded message re-encodes
// to bytes that decode to the same message, apart from what the decoder
// keeps only as a count (skipped optional attributes) and the order of IPv4
// and IPv6 prefixes within one list.

import TaglineCore

@testable import TaglineSXP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSXPMessage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let version: SXPVersion = data[0] % 2 == 0 ? .v4 : .v3
    var framer = SXPFramer()
    framer.append(UnsafeBufferPointer(start: data + 1, count: size - 1))
    while true {
        let frame: (header: SXPHeader, bytes: [UInt8])
        do {
            guard let next = try framer.next() else { return 0 }
            frame = next
        } catch let error as SXPError {
            _ = error.reply(to: nil, version: version)
            return 0
        } catch {
            fatalError("framer threw a non-SXP error: \(error)")
        }
        do {
            let message = try SXPMessage.decode(frame.bytes, version: version)
            checkRoundTrip(message, version: version)
        } catch let error as SXPError {
            _ = error.description
            _ = error.reply(to: frame.header.type, version: version)
        } catch {
            fatalError("decoder threw a non-SXP error: \(error)")
        }
    }
}

/// Returns `prefixes` with the IPv4 ones first, each family in its original order.
private func byFamily(_ prefixes: [IPPrefix]) -> [IPPrefix] {
    prefixes.filter { $0.address.isIPv4 } + prefixes.filter { !$0.address.isIPv4 }
}

/// Re-encodes `message` and requires the result to decode to the same message.
private func checkRoundTrip(_ message: SXPMessage, version: SXPVersion) {
    var expected = message
    if case .update(var update) = message {
        // The encoder writes one IPv4 and one IPv6 attribute per list, so
        // the order between the two families is not kept.
        update.skippedAttributes = 0
        update.deletions = byFamily(update.deletions)
        for index in update.additions.indices {
            update.additions[index].prefixes = byFamily(update.additions[index].prefixes)
        }
        expected = .update(update)
        // Each binding group gets its own Peer-Sequence and SGT attributes
        // again, so the encoding can outgrow one message; split it then.
        if update.split(version: version).count > 1 { return }
    }
    _ = "\(message)"
    let encoded = expected.encode(version: version)
    let decoded: SXPMessage
    do {
        decoded = try SXPMessage.decode(encoded, version: version)
    } catch {
        fatalError("re-encoded \(message.type) does not decode: \(error)")
    }
    if decoded != expected {
        fatalError("re-encoded message differs: \(decoded) vs \(expected)")
    }
}
