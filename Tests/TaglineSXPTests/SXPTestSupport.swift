import TaglineCore
import XCTest

@testable import TaglineSXP

/// Builds a message from a type and a body, with the Length computed.
func sxpMessage(type: UInt32, body: [UInt8]) -> [UInt8] {
    var out = [UInt8]()
    out.appendUInt32(UInt32(8 + body.count))
    out.appendUInt32(type)
    return out + body
}

func prefix(_ text: String) -> IPPrefix { IPPrefix(text)! }
func tag(_ value: UInt16) -> SGT { SGT(value)! }
