// Helpers shared by the configuration tests.

import Foundation
import XCTest

@testable import TaglineConfig

/// Returns the path of a file in the test target's Fixtures folder.
func fixturePath(_ name: String) -> String {
    guard let resources = Bundle.module.resourceURL else {
        fatalError("test bundle has no resource folder")
    }
    return resources.appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

/// Loads a fixture, failing the test when the file cannot be read.
func loadFixture(_ name: String, file: StaticString = #filePath, line: UInt = #line)
    throws -> ConfigLoadResult
{
    do {
        return try ConfigLoader.load(path: fixturePath(name))
    } catch {
        XCTFail("cannot load fixture \(name): \(error)", file: file, line: line)
        throw error
    }
}

/// Parses lines joined by newlines.
func parse(_ lines: String...) -> ConfigLoadResult {
    ConfigLoader.parse(text: lines.joined(separator: "\n"))
}

/// Lists every diagnostic, one per line, for failure messages.
func listing(_ result: ConfigLoadResult) -> String {
    result.diagnostics.map { $0.description }.joined(separator: "\n")
}

extension ConfigLoadResult {
    /// Returns the line numbers of the diagnostics of one kind.
    func lines(_ kind: ConfigDiagnostic.Kind) -> [Int] {
        diagnostics.filter { $0.kind == kind }.map { $0.line }
    }

    /// Returns the message of the error at `index`, or a placeholder that fails any comparison.
    func errorMessage(_ index: Int) -> String {
        errors.indices.contains(index) ? errors[index].message : "<no error \(index)>"
    }

    /// Returns the text of the error at `index`, or a placeholder that fails any comparison.
    func errorText(_ index: Int) -> String {
        errors.indices.contains(index) ? errors[index].text : "<no error \(index)>"
    }

    /// Returns the message of the ignored line at `index`, or a placeholder.
    func ignoredMessage(_ index: Int) -> String {
        ignored.indices.contains(index) ? ignored[index].message : "<no ignored line \(index)>"
    }
}
