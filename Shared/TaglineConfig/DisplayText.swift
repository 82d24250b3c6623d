// Configuration text made safe to print: diagnostics echo lines from files
// that may hold control bytes, terminal escape sequences or megabyte-long lines.

/// Escaping and shortening of echoed configuration text.
enum DisplayText {
    /// The maximum number of characters of echoed input in one diagnostic field,
    /// so that a 2 MB line prints as one short line.
    static let maxEchoLength = 120

    /// The maximum length of a whole diagnostic message, which may quote several words.
    static let maxMessageLength = 400

    /// Returns `text` with every non-printable character written as `\xNN` per UTF-8
    /// byte, cut after `limit` characters of output with "..." appended.
    ///
    /// Non-printable means ASCII control characters, DEL, Unicode control, format
    /// (such as U+FEFF and bidirectional overrides), private-use and unassigned
    /// scalars, line and paragraph separators, spaces other than U+0020, and U+FFFD,
    /// which marks bytes that were not UTF-8.
    static func escaped(_ text: String, limit: Int = maxEchoLength) -> String {
        var output = String.UnicodeScalarView()
        var length = 0
        for scalar in text.unicodeScalars {
            if isPrintable(scalar) {
                guard length < limit else { return withoutPartialEscape(output) + "..." }
                output.append(scalar)
                length += 1
            } else {
                let escape = escapeSequence(scalar)
                guard length + escape.unicodeScalars.count <= limit else {
                    return String(output) + "..."
                }
                output.append(contentsOf: escape.unicodeScalars)
                length += escape.unicodeScalars.count
            }
        }
        return String(output)
    }

    /// Escapes a message and shortens each space-separated word in it to
    /// `maxEchoLength`, so that a quoted value from the file stays short while the
    /// message's own text, such as a list of supported values, is kept.
    static func escapedMessage(_ message: String) -> String {
        let words = message.split(separator: " ", omittingEmptySubsequences: false)
        let shortened = words.map { escaped(String($0)) }.joined(separator: " ")
        return escaped(shortened, limit: maxMessageLength)
    }

    /// Decodes one line of UTF-8. Bytes that are not UTF-8 become the text `\xNN`,
    /// and `hasInvalidBytes` is true when the line had such bytes.
    static func decode<Bytes: Collection>(_ bytes: Bytes) -> (text: String, hasInvalidBytes: Bool)
    where Bytes.Element == UInt8 {
        if let text = String(validating: bytes, as: UTF8.self) { return (text, false) }
        var text = String.UnicodeScalarView()
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var index = bytes.startIndex
        decoding: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                text.append(Unicode.UTF8.decode(encoded))
                index = bytes.index(index, offsetBy: encoded.count)
            case .error(let length):
                let end = bytes.index(index, offsetBy: length)
                for byte in bytes[index..<end] {
                    text.append(contentsOf: hexEscape(byte).unicodeScalars)
                }
                index = end
            case .emptyInput:
                break decoding
            }
        }
        return (String(text), true)
    }

    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar.value >= 0x20 && scalar.value < 0x7F }
        if scalar == "\u{FFFD}" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator,
            .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    /// Drops a `\xNN` sequence that the cut at the length limit split, such as a
    /// trailing `\x8` from a byte that the loader escaped.
    private static func withoutPartialEscape(_ output: String.UnicodeScalarView) -> String {
        let tail = Array(output.suffix(3))
        guard let backslash = tail.lastIndex(of: "\\") else { return String(output) }
        let rest = tail[(backslash + 1)...]
        let isPartial =
            rest.isEmpty
            || (rest.first == "x" && rest.dropFirst().allSatisfy { $0.properties.isASCIIHexDigit })
        guard isPartial else { return String(output) }
        return String(String.UnicodeScalarView(output.dropLast(tail.count - backslash)))
    }

    private static func escapeSequence(_ scalar: Unicode.Scalar) -> String {
        String(scalar).utf8.map(hexEscape).joined()
    }

    private static func hexEscape(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0F)])
    }
}
