// One line of the configuration file, split into words.

/// A configuration line with its words; keywords are compared in lowercase
/// because IOS keywords are case-insensitive, while names keep their case.
struct ConfigLine {
    /// 1-based line number.
    let number: Int
    /// The line without the line break and surrounding whitespace.
    let text: String
    /// Words separated by spaces or tabs, as written.
    let words: [String]
    /// `words` in lowercase.
    let keywords: [String]
    /// True when the line starts with whitespace.
    let isIndented: Bool
    /// True when the line contains a control character or bytes that were not UTF-8.
    let hasInvalidCharacters: Bool

    /// Splits `raw` into words. `hasInvalidBytes` is true when the loader found bytes
    /// that were not UTF-8 and wrote them into `raw` as `\xNN`.
    init(number: Int, raw: String, hasInvalidBytes: Bool = false) {
        self.number = number
        var scalars = Substring(raw).unicodeScalars
        while let last = scalars.last, ConfigLine.isSpace(last) || last == "\r" {
            scalars.removeLast()
        }
        isIndented = scalars.first.map(ConfigLine.isSpace) ?? false
        while let first = scalars.first, ConfigLine.isSpace(first) { scalars.removeFirst() }
        text = String(scalars)
        hasInvalidCharacters =
            hasInvalidBytes
            || scalars.contains {
                ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F || $0 == "\u{FFFD}"
            }
        words = scalars.split(whereSeparator: ConfigLine.isSpace).map { String($0) }
        keywords = words.map { $0.lowercased() }
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t"
    }

    /// The text for diagnostics, with everything after a key or password keyword
    /// replaced, so that printing diagnostics never prints a secret.
    var displayText: String {
        let secretIndex = keywords.indices.first { index in
            let word = keywords[index]
            if ["pre-shared-key", "password", "secret"].contains(word) { return true }
            return word == "key" && index > 0 && keywords[index - 1] == "pre-share"
        }
        guard let secretIndex, secretIndex + 1 < words.count else { return text }
        return (words[...secretIndex] + ["<removed>"]).joined(separator: " ")
    }

    /// True for a blank line or a `!` comment.
    var isComment: Bool { text.isEmpty || text.hasPrefix("!") }

    /// Returns the word at `index`, or nil past the end.
    func word(_ index: Int) -> String? { index < words.count ? words[index] : nil }

    /// Returns the lowercase word at `index`, or nil past the end.
    func keyword(_ index: Int) -> String? { index < keywords.count ? keywords[index] : nil }

    /// Returns the text after the first `count` words with its own spacing kept,
    /// or "" when nothing follows them. Descriptions and keys use it.
    func rest(after count: Int) -> String {
        var scalars = Substring(text).unicodeScalars
        for _ in 0..<count {
            while let first = scalars.first, ConfigLine.isSpace(first) { scalars.removeFirst() }
            while let first = scalars.first, !ConfigLine.isSpace(first) { scalars.removeFirst() }
        }
        while let first = scalars.first, ConfigLine.isSpace(first) { scalars.removeFirst() }
        return String(scalars)
    }

    /// Returns a copy of the line without its first `count` words, for `no` forms.
    func dropping(_ count: Int) -> ConfigLine {
        ConfigLine(number: number, raw: rest(after: count))
    }
}

/// The reason a line was rejected; the message becomes an `.error` diagnostic.
struct ConfigLineError: Error {
    let message: String

    init(_ message: String) { self.message = message }
}

/// The outcome of a command that was recognised in the current mode.
enum CommandResult {
    /// The command changed the configuration, or is accepted with no effect.
    case applied
    /// A valid command that Tagline does not implement.
    case ignored
}
