// Removes key material from JSON bodies before they reach a trace. It works
// on the bytes, without a round trip through JSONSerialization, so numbers
// such as 64-bit epochs keep every digit and field order stays as sent.

/// Replaces the value of every object member whose name contains "key",
/// "secret", "psk" or "password" (case-insensitive) with "<redacted>". A member
/// named exactly "key" is kept, because clone updates use it for the table key
/// (a prefix or an SPI), never for key material.
public enum JSONRedactor {
    /// Text that replaces each redacted value.
    public static let placeholder = "\"<redacted>\""
    /// Body mirrored in place of input that is not valid JSON, which could hide anything.
    public static let unparsedPlaceholder = "\"<body is not JSON, redacted>\""
    /// Nesting depth beyond which a body is treated as not JSON.
    static let maxDepth = 64

    private static let sensitiveWords = ["key", "secret", "psk", "password"]

    /// True when a member named `name` carries key material.
    public static func isSensitive(_ name: String) -> Bool {
        let lower = name.lowercased()
        if lower == "key" { return false }
        return sensitiveWords.contains { lower.contains($0) }
    }

    /// Returns the redacted JSON text of `body`, without whitespace, or
    /// indented by `indent` spaces per level for people to read.
    public static func redact(_ body: [UInt8], indent: Int? = nil) -> [UInt8] {
        var scanner = Scanner(input: body)
        scanner.skipWhitespace()
        guard scanner.copyValue(depth: 0), scanner.atEndAfterWhitespace() else {
            return Array(unparsedPlaceholder.utf8)
        }
        guard let indent, indent > 0 else { return scanner.output }
        return indented(scanner.output, by: indent)
    }

    /// Re-indents compact JSON, one member or element per line.
    static func indented(_ compact: [UInt8], by width: Int) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(compact.count * 2)
        var depth = 0
        var inString = false
        var escaped = false
        func newline() {
            output.append(0x0A)
            output += [UInt8](repeating: 0x20, count: depth * width)
        }
        for (index, byte) in compact.enumerated() {
            if inString {
                output.append(byte)
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                output.append(byte)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                output.append(byte)
                let next = index + 1 < compact.count ? compact[index + 1] : 0
                // Empty objects and arrays stay on one line.
                if next != UInt8(ascii: "}") && next != UInt8(ascii: "]") {
                    depth += 1
                    newline()
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                let previous = index > 0 ? compact[index - 1] : 0
                if previous != UInt8(ascii: "{") && previous != UInt8(ascii: "[") {
                    depth -= 1
                    newline()
                }
                output.append(byte)
            case UInt8(ascii: ","):
                output.append(byte)
                newline()
            case UInt8(ascii: ":"):
                output += [byte, 0x20]
            default:
                output.append(byte)
            }
        }
        return output
    }

    private struct Scanner {
        let input: [UInt8]
        var position = 0
        var output: [UInt8] = []

        init(input: [UInt8]) {
            self.input = input
            output.reserveCapacity(input.count)
        }

        var current: UInt8? { position < input.count ? input[position] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                position += 1
            }
        }

        mutating func atEndAfterWhitespace() -> Bool {
            skipWhitespace()
            return position == input.count
        }

        /// Copies one value to the output; false on malformed input.
        mutating func copyValue(depth: Int) -> Bool {
            guard depth < JSONRedactor.maxDepth, let byte = current else { return false }
            switch byte {
            case UInt8(ascii: "{"): return copyObject(depth: depth + 1)
            case UInt8(ascii: "["): return copyArray(depth: depth + 1)
            case UInt8(ascii: "\""): return copyString() != nil
            default: return copyLiteral()
            }
        }

        /// Skips one value without copying it; false on malformed input.
        mutating func skipValue(depth: Int) -> Bool {
            let mark = output.count
            let ok = copyValue(depth: depth)
            output.removeSubrange(mark...)
            return ok
        }

        mutating func copyObject(depth: Int) -> Bool {
            output.append(UInt8(ascii: "{"))
            position += 1
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                output.append(UInt8(ascii: "}"))
                position += 1
                return true
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\""), let name = copyString() else { return false }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { return false }
                output.append(UInt8(ascii: ":"))
                position += 1
                skipWhitespace()
                if JSONRedactor.isSensitive(name) {
                    guard skipValue(depth: depth) else { return false }
                    output += Array(JSONRedactor.placeholder.utf8)
                } else {
                    guard copyValue(depth: depth) else { return false }
                }
                skipWhitespace()
                guard let separator = current else { return false }
                position += 1
                output.append(separator)
                if separator == UInt8(ascii: "}") { return true }
                guard separator == UInt8(ascii: ",") else { return false }
            }
        }

        mutating func copyArray(depth: Int) -> Bool {
            output.append(UInt8(ascii: "["))
            position += 1
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                output.append(UInt8(ascii: "]"))
                position += 1
                return true
            }
            while true {
                skipWhitespace()
                guard copyValue(depth: depth) else { return false }
                skipWhitespace()
                guard let separator = current else { return false }
                position += 1
                output.append(separator)
                if separator == UInt8(ascii: "]") { return true }
                guard separator == UInt8(ascii: ",") else { return false }
            }
        }

        /// Copies a string with its quotes and returns its raw text with escapes
        /// kept, or nil when the string is unterminated or contains a control character.
        mutating func copyString() -> String? {
            let start = position
            position += 1
            while let byte = current {
                position += 1
                if byte == UInt8(ascii: "\\") {
                    guard current != nil else { return nil }
                    position += 1
                } else if byte == UInt8(ascii: "\"") {
                    output += input[start..<position]
                    return String(decoding: input[(start + 1)..<(position - 1)], as: UTF8.self)
                } else if byte < 0x20 {
                    return nil
                }
            }
            return nil
        }

        /// Copies a number, true, false or null.
        mutating func copyLiteral() -> Bool {
            let start = position
            while let byte = current {
                let allowed =
                    (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "E")
                guard allowed else { break }
                position += 1
            }
            guard position > start else { return false }
            let token = String(decoding: input[start..<position], as: UTF8.self)
            let isKeyword = token == "true" || token == "false" || token == "null"
            guard isKeyword || Double(token) != nil else { return false }
            output += input[start..<position]
            return true
        }
    }
}
