// `tagline cts role-based sgt-map add|del` and `show ... all` against a real
// cts-binding-store: an added binding that a configured one shadows is
// reported as not in use, and listed as shadowed.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineBus

final class CLIBindingTests: XCTestCase {
    var runDirectory = ""
    var stateDirectory = ""
    var store: ServiceProcess?

    override func setUpWithError() throws {
        runDirectory = makeRunDirectory()
        stateDirectory = makeRunDirectory()
        let configPath = stateDirectory + "/gateway.cfg"
        let config = """
            cts role-based sgt-map 192.0.2.0/24 sgt 100
            cts role-based sgt-map 192.0.2.2 sgt 333
            end

            """
        _ = FileManager.default.createFile(atPath: configPath, contents: Data(config.utf8))
        store = try ServiceProcess(
            .bindingStore,
            arguments: ["--config", configPath, "--state-dir", stateDirectory + "/state"],
            runDirectory: runDirectory)
    }

    override func tearDown() {
        store?.stop()
        store = nil
        removeDirectory(runDirectory)
        removeDirectory(stateDirectory)
    }

    private func tagline(_ arguments: String...) throws -> ProcessResult {
        try runProcess(try builtExecutable("tagline"), ["--run-dir", runDirectory] + arguments)
    }

    func testAddShadowedByConfiguredBinding() throws {
        let shadowed = try tagline("cts", "role-based", "sgt-map", "add", "192.0.2.2", "sgt", "444")
        XCTAssertEqual(shadowed.status, 0, shadowed.standardError)
        XCTAssertEqual(
            shadowed.standardOutput,
            "added 192.0.2.2 sgt 444 (API); not in use: the configured binding sgt 333 "
                + "takes precedence\n")

        let inUse = try tagline("cts", "role-based", "sgt-map", "add", "192.0.2.3", "sgt", "555")
        XCTAssertEqual(inUse.status, 0, inUse.standardError)
        XCTAssertEqual(inUse.standardOutput, "added 192.0.2.3 sgt 555 (API)\n")

        // The lookup still returns the configured binding.
        let lookup = try tagline("show", "cts", "role-based", "sgt-map", "192.0.2.2")
        XCTAssertTrue(lookup.standardOutput.contains("192.0.2.2               333     CLI"))
    }

    func testShowAllListsShadowedBindings() throws {
        _ = try tagline("cts", "role-based", "sgt-map", "add", "192.0.2.2", "sgt", "444")
        let result = try tagline("show", "cts", "role-based", "sgt-map", "all")
        XCTAssertEqual(result.status, 0, result.standardError)
        let expected = """
            Active IPv4-SGT Bindings Information

            IP Address              SGT     Source
            ============================================
            192.0.2.0/24            100     CLI
            192.0.2.2               333     CLI

            IP-SGT Active Bindings Summary
            ============================================
            Total number of CLI      bindings = 2
            Total number of active   bindings = 2

            Shadowed IP-SGT Bindings (not in use: a higher-priority source binds the prefix)

            IP Address              SGT     Source    In use instead
            ============================================================
            192.0.2.2               444     API       sgt 333 (CLI)
            Total number of shadowed bindings = 1

            """
        XCTAssertEqual(result.standardOutput, expected)

        // --json carries every stored binding and the ones in use.
        let json = try tagline("show", "cts", "role-based", "sgt-map", "all", "--json")
        XCTAssertEqual(json.status, 0, json.standardError)
        let object = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8))
        let reply = try XCTUnwrap(object as? [String: Any])
        let all = try XCTUnwrap(reply["bindings"] as? [[String: Any]])
        let effective = try XCTUnwrap(reply["effective"] as? [[String: Any]])
        XCTAssertEqual(all.count, 3)
        XCTAssertEqual(effective.count, 2)
        let added = all.first { $0["sgt"] as? Int == 444 }
        XCTAssertEqual(added?["source"] as? String, "API")
        XCTAssertFalse(effective.contains { $0["sgt"] as? Int == 444 })
    }

    func testDeleteRemovesShadowedSection() throws {
        _ = try tagline("cts", "role-based", "sgt-map", "add", "192.0.2.2", "sgt", "444")
        let deleted = try tagline("cts", "role-based", "sgt-map", "del", "192.0.2.2")
        XCTAssertEqual(deleted.status, 0, deleted.standardError)
        XCTAssertEqual(deleted.standardOutput, "deleted 192.0.2.2 (API)\n")

        let show = try tagline("show", "cts", "role-based", "sgt-map", "all")
        XCTAssertFalse(show.standardOutput.contains("Shadowed"), show.standardOutput)

        let again = try tagline("cts", "role-based", "sgt-map", "del", "192.0.2.2")
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(
            again.standardError.contains("no API binding for 192.0.2.2/32"), again.standardError)
    }
}
