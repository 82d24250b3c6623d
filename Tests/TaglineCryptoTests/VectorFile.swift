// Reads the test vector files in Vectors/. The format: `#` starts a comment
// line, a blank line ends a record, `name = value` sets a field, and an
// indented line continues the previous value. A value is hex (spaces ignored)
// or ASCII text in double quotes, and "" is the empty string.

import Foundation
import TaglineCore
import XCTest

struct VectorFileError: Error, CustomStringConvertible {
    let description: String
}

/// One record of a vector file.
struct VectorRecord {
    let file: String
    /// Line of the record's first field, for failure messages.
    let line: Int
    let fields: [String: String]

    /// Where the record comes from, such as "rfc3602-aes-cbc.txt:6".
    var location: String { "\(file):\(line)" }

    /// Returns a field as bytes: the ASCII of a quoted value, otherwise decoded hex.
    func bytes(_ name: String) throws -> [UInt8] {
        let value = try raw(name)
        if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
            return Array(value.dropFirst().dropLast().utf8)
        }
        guard let bytes = Hex.decode(value) else {
            throw VectorFileError(description: "\(location): field \(name) is not hex: \(value)")
        }
        return bytes
    }

    /// Returns a field as a decimal integer.
    func integer(_ name: String) throws -> Int {
        let value = try raw(name)
        guard let number = Int(value) else {
            throw VectorFileError(description: "\(location): field \(name) is not a number")
        }
        return number
    }

    /// Returns a field's text as written, or nil when the record lacks it.
    func optional(_ name: String) -> String? { fields[name] }

    func raw(_ name: String) throws -> String {
        guard let value = fields[name] else {
            throw VectorFileError(description: "\(location): missing field \(name)")
        }
        return value
    }
}

enum VectorFile {
    /// Loads and parses `Vectors/<name>` from the test bundle.
    static func load(_ name: String) throws -> [VectorRecord] {
        guard
            let url = Bundle.module.url(
                forResource: name, withExtension: nil,
                subdirectory: "Vectors")
        else {
            throw VectorFileError(description: "vector file Vectors/\(name) not found in bundle")
        }
        return try parse(String(contentsOf: url, encoding: .utf8), file: name)
    }

    static func parse(_ text: String, file: String) throws -> [VectorRecord] {
        var records: [VectorRecord] = []
        var fields: [String: String] = [:]
        var firstLine = 0
        var lastName: String?

        func finishRecord() {
            if !fields.isEmpty {
                records.append(VectorRecord(file: file, line: firstLine, fields: fields))
            }
            fields = [:]
            lastName = nil
        }

        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let lineNumber = index + 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") { continue }
            if trimmed.isEmpty {
                finishRecord()
                continue
            }

            // An indented line continues the previous field's value.
            if line.first == " " {
                guard let name = lastName else {
                    throw VectorFileError(
                        description: "\(file):\(lineNumber): continuation without a field")
                }
                fields[name, default: ""] += trimmed
                continue
            }

            guard let equals = trimmed.firstIndex(of: "=") else {
                throw VectorFileError(description: "\(file):\(lineNumber): expected name = value")
            }
            let name = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...]
                .trimmingCharacters(in: .whitespaces)
            if fields.isEmpty { firstLine = lineNumber }
            guard fields[name] == nil else {
                throw VectorFileError(description: "\(file):\(lineNumber): repeated field \(name)")
            }
            fields[name] = value
            lastName = name
        }
        finishRecord()
        return records
    }
}

/// Asserts two byte strings are equal and, when they differ, shows both as hex.
func XCTAssertEqualHex(
    _ actual: @autoclosure () throws -> [UInt8]?, _ expected: @autoclosure () throws -> [UInt8]?,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    let hex: ([UInt8]?) -> String = { $0.map { Hex.encode($0) } ?? "nil" }
    XCTAssertEqual(
        hex(try actual()), hex(try expected()), message(), file: file, line: line)
}
