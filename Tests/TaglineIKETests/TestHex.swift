// Hex test inputs written one field per line with `//` comments.

import TaglineCore

/// Decodes hex text, ignoring whitespace and everything after `//` on each line.
func hexBytes(_ text: String) -> [UInt8] {
    let digits = text.split(separator: "\n").map { line -> Substring in
        if let comment = line.range(of: "//") { return line[..<comment.lowerBound] }
        return line
    }.joined().filter { !$0.isWhitespace }
    guard let bytes = Hex.decode(String(digits)) else {
        preconditionFailure("invalid hex in test input")
    }
    return bytes
}
