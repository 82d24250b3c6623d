// Vendor ID payload (RFC 7296 §3.12), and the Cisco TrustSec SGT capability
// that travels in one.
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        Vendor ID (VID)                        ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Opaque data that announces a vendor capability. Unknown IDs are ignored.
public struct VendorIDPayload: Equatable, Sendable {
    public var data: [UInt8]

    public init(data: [UInt8]) { self.data = data }

    /// The 13 ASCII bytes `CISCO-CTS-SGT`, without a NUL, that announce inline
    /// SGT tagging in IKE_SA_INIT.
    public static let ciscoCTSSGT = VendorIDPayload(data: Array("CISCO-CTS-SGT".utf8))

    /// True only for the exact 13 bytes of `ciscoCTSSGT`: a trailing NUL or any
    /// extra byte makes it another vendor ID.
    public var isCiscoCTSSGT: Bool { data == VendorIDPayload.ciscoCTSSGT.data }

    func encodeBody(into writer: inout ByteWriter) {
        writer.append(contentsOf: data)
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> VendorIDPayload {
        VendorIDPayload(data: reader.readRest())
    }
}
