import TaglineCore
import XCTest

@testable import TaglineDataplane

final class PlanSelectorTests: XCTestCase {
    /// The packet path's copy of a selector, in its general and its IPv4 form, must agree with
    /// `TrafficSelector.matches` on every address, protocol and port, including the edges of
    /// each range.
    func testMatchesLikeTrafficSelector() {
        let selectors = [
            TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!),
            TrafficSelector(
                startAddress: IPAddress("192.0.2.10")!, endAddress: IPAddress("192.0.2.20")!,
                ipProtocol: 17, startPort: 500, endPort: 4500),
            TrafficSelector(prefix: IPPrefix("2001:db8::/64")!),
            TrafficSelector(
                startAddress: IPAddress("2001:db8::1:0")!,
                endAddress: IPAddress("2001:db8:0:1::ffff")!, ipProtocol: 6, startPort: 80,
                endPort: 80),
            .anyIPv4,
            .anyIPv6,
            // Mixed families: IPv4 orders before IPv6, so this covers IPv4 from .5 upwards.
            TrafficSelector(
                startAddress: IPAddress("198.51.100.5")!, endAddress: IPAddress("2001:db8::")!),
            // Ranges that contain no address: an IPv6 start before an IPv4 end, and an IPv4
            // start after its end.
            TrafficSelector(
                startAddress: IPAddress("2001:db8::")!, endAddress: IPAddress("192.0.2.20")!),
            TrafficSelector(
                startAddress: IPAddress("192.0.2.20")!, endAddress: IPAddress("192.0.2.10")!),
        ]
        let addresses = [
            "0.0.0.0", "192.0.1.255", "192.0.2.0", "192.0.2.9", "192.0.2.10", "192.0.2.20",
            "192.0.2.21", "192.0.2.255", "198.51.100.4", "198.51.100.5", "255.255.255.255",
            "::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::", "2001:db8::ffff",
            "2001:db8::1:0", "2001:db8:0:1::ffff", "2001:db8:0:1::1:0", "2001:db8:0:2::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ].map { IPAddress($0)! }
        let protocols: [UInt8] = [0, 1, 6, 17]
        let ports: [UInt16?] = [nil, 0, 79, 80, 81, 499, 500, 4500, 4501, 65535]
        var matchCount = 0
        for selector in selectors {
            let plan = PlanSelector(selector)
            for address in addresses {
                for ipProtocol in protocols {
                    for port in ports {
                        let expected = selector.matches(
                            address: address, ipProtocol: ipProtocol, port: port)
                        let actual = plan.matches(
                            address: address, ipProtocol: ipProtocol, port: port)
                        let note =
                            "\(selector) against \(address) protocol \(ipProtocol) port "
                            + "\(port.map(String.init) ?? "none")"
                        XCTAssertEqual(actual, expected, note)
                        if case .v4(let value) = address {
                            let actualIPv4 = plan.matches(
                                ipv4: value, ipProtocol: ipProtocol, port: port)
                            XCTAssertEqual(actualIPv4, expected, "IPv4 form: " + note)
                        }
                        matchCount += expected ? 1 : 0
                    }
                }
            }
        }
        // The table must exercise matches as well as misses.
        XCTAssertGreaterThan(matchCount, 100)
    }
}
