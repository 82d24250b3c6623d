import TaglineCore
import XCTest

@testable import TaglineDataplane

/// The outbound shortcuts against the plain computations they replace: the outer IPv4
/// checksum from a precomputed sum, padding and payload limits with a mask.
final class OuterHeaderTests: XCTestCase {
    func testIPv4FixedSumMatchesFullSum() {
        let addresses: [(IPAddress, IPAddress)] = [
            (IPAddress("198.51.100.1")!, IPAddress("198.51.100.2")!),
            (IPAddress("255.255.255.255")!, IPAddress("255.255.255.254")!),
            (IPAddress("0.0.0.0")!, IPAddress("203.0.113.200")!),
        ]
        for (source, destination) in addresses {
            for ipProtocol in [IPProtocolNumber.esp, IPProtocolNumber.udp] {
                let fixedSum = IPv4.fixedFieldsSum(
                    ipProtocol: ipProtocol, source: source, destination: destination)
                for (totalLength, identification, tos, dontFragment) in [
                    (20, UInt16(0), UInt8(0), false), (1500, 0xFFFF, 0xFF, true),
                    (65535, 0x8000, 0xB8, true), (92, 1, 0x02, false),
                ] {
                    var expected = [UInt8](repeating: 0xAA, count: 24)
                    var actual = [UInt8](repeating: 0xAA, count: 24)
                    expected.withUnsafeMutableBytes {
                        IPv4.writeHeader(
                            $0, at: 2, totalLength: totalLength, ipProtocol: ipProtocol,
                            source: source, destination: destination,
                            identification: identification, tos: tos,
                            dontFragment: dontFragment)
                    }
                    actual.withUnsafeMutableBytes {
                        IPv4.writeHeader(
                            $0, at: 2, totalLength: totalLength, ipProtocol: ipProtocol,
                            source: source, destination: destination,
                            identification: identification, tos: tos,
                            dontFragment: dontFragment, fixedSum: fixedSum)
                    }
                    XCTAssertEqual(actual, expected, "\(source) \(ipProtocol) \(totalLength)")
                }
            }
        }
    }

    func testOutboundHeaderChecksumValid() throws {
        let pair = Lab.saPair(encryption: .aesGCM128, integrity: nil)
        let gw1 = try MemoryPipeline(
            sa: pair.gw1, forwarding: Lab.forwarding(gw1: true), slotCount: 8)
        let frames = [0, 1, 7, 300].map {
            Lab.fromHostA(Lab.ipv4UDP(payload: [UInt8](repeating: 0x33, count: $0)))
        }
        let sent = frames.withUnsafeBufferPointer { list in
            gw1.runInside(count: list.count) { list[$0].withUnsafeBytes { $0 } }
        }
        XCTAssertEqual(sent, frames.count)
        for index in 0..<gw1.outside.count {
            let header = gw1.outside.frame(index).slice(Ethernet.headerSize, IPv4.minimumHeaderSize)
            XCTAssertEqual(
                InternetChecksum.finish(InternetChecksum.sum(header)), 0, "frame \(index)")
        }
    }

    func testPaddingMatchesDivision() throws {
        let cbcPair = Lab.saPair(encryption: .aesCBC128, integrity: .hmacSHA1_96)
        let gcmPair = Lab.saPair(encryption: .aesGCM128, integrity: nil)
        for sa in [cbcPair.gw1, gcmPair.gw1] {
            let transform = try ESPTransform(
                encryption: sa.encryption, integrity: sa.integrity, keys: sa.outboundKeys)
            let plan = SAPlan(sa)
            let block = transform.blockSize
            for length in 0..<200 {
                let expected = (length + ESPLayout.trailerSize + block - 1) / block * block
                XCTAssertEqual(transform.paddedLength(length), expected, "length \(length)")
            }
            for mtu in -40..<1600 {
                let outer = IPv4.minimumHeaderSize + ESPLayout.headerSize + transform.ivLength
                let room = mtu - outer - transform.icvLength
                let expected = room / block * block - ESPLayout.trailerSize
                XCTAssertEqual(
                    OutboundLayout.maximumPayload(sa: plan, transform: transform, mtu: mtu),
                    expected, "mtu \(mtu)")
            }
        }
    }
}
