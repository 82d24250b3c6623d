import TaglineCore
import XCTest

@testable import TaglineDataplane

final class SPIIndexTests: XCTestCase {
    /// Finds every installed SPI and no other, with random SPIs and with SPIs that differ
    /// only in their high bits, which share a slot more often.
    func testFindsEverySPI() throws {
        let pair = Lab.saPair()
        let state = try SAState(childSA: pair.gw1, workerCount: 1)
        var generator = SystemRandomNumberGenerator()
        let random = (0..<300).map { _ in UInt32.random(in: 256...UInt32.max, using: &generator) }
        let highBits = (1...64).map { UInt32($0) << 26 }
        for spis in [random, highBits, [0x1000_0001], []] {
            let index = SPIIndex(Dictionary(spis.map { ($0, state) }) { first, _ in first })
            for spi in spis {
                XCTAssertTrue(index.state(spi: spi) === state, "SPI \(spi) not found")
            }
            let installed = Set(spis)
            for spi in UInt32(0)..<256 where !installed.contains(spi) {
                XCTAssertNil(index.state(spi: spi), "SPI \(spi) found but not installed")
            }
            for spi in highBits.map({ $0 | 1 }) where !installed.contains(spi) {
                XCTAssertNil(index.state(spi: spi), "SPI \(spi) found but not installed")
            }
        }
    }

    /// Each SPI returns its own SA, not one that shares its slot.
    func testDistinctStates() throws {
        let pair = Lab.saPair()
        let first = try SAState(childSA: pair.gw1, workerCount: 1)
        let second = try SAState(childSA: pair.gw2, workerCount: 1)
        var states = [UInt32: SAState]()
        for shift in 0..<32 { states[1 << shift] = shift % 2 == 0 ? first : second }
        let index = SPIIndex(states)
        for shift in 0..<32 {
            XCTAssertTrue(index.state(spi: 1 << shift) === (shift % 2 == 0 ? first : second))
        }
    }
}
