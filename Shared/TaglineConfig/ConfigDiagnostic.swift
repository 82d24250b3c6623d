// Diagnostics that the loader reports about a configuration file, line by line.

/// One message about one line of the configuration file.
public struct ConfigDiagnostic: Equatable, Sendable, CustomStringConvertible {
    /// The loader's treatment of the line.
    public enum Kind: String, Equatable, Sendable {
        /// A valid command that Tagline does not implement; the line has no effect.
        case ignored
        /// An invalid or inconsistent line; it was rejected and the rest of the file applies.
        case error
        /// A valid line that is probably a mistake, such as one that replaces the value
        /// of an earlier line. The line applies.
        case warning
    }

    /// 1-based line number in the file.
    public var line: Int
    public var kind: Kind
    /// The line as written, without the line break and surrounding spaces, with
    /// non-printable characters written as `\xNN` and cut after 120 characters.
    public var text: String
    /// The problem with the line, escaped the same way, with each quoted word cut
    /// after 120 characters.
    public var message: String

    /// Creates a diagnostic. `text` and `message` are escaped and shortened here, so
    /// that printing a diagnostic never sends control bytes or a huge line to a terminal.
    public init(line: Int, kind: Kind, text: String, message: String) {
        self.line = line
        self.kind = kind
        self.text = DisplayText.escaped(text)
        self.message = DisplayText.escapedMessage(message)
    }

    /// `line 118: ignored (not implemented): logging esm config`,
    /// `line 27: error: ikev2 profile prof1_ipv4 is not defined (set ikev2-profile prof1_ipv4)`
    /// or `line 9: warning: ... (cts role-based sgt-map 192.0.2.2 sgt 334)`.
    public var description: String {
        switch kind {
        case .ignored:
            return "line \(line): ignored (\(message)): \(text)"
        case .error:
            return "line \(line): error: \(message) (\(text))"
        case .warning:
            return "line \(line): warning: \(message) (\(text))"
        }
    }
}

/// The result of loading a configuration: the model and every diagnostic, sorted by line.
public struct ConfigLoadResult: Equatable, Sendable {
    public var config: GatewayConfig
    public var diagnostics: [ConfigDiagnostic]

    public init(config: GatewayConfig, diagnostics: [ConfigDiagnostic]) {
        self.config = config
        self.diagnostics = diagnostics
    }

    /// The diagnostics of kind `.error`.
    public var errors: [ConfigDiagnostic] { diagnostics.filter { $0.kind == .error } }

    /// The diagnostics of kind `.warning`.
    public var warnings: [ConfigDiagnostic] { diagnostics.filter { $0.kind == .warning } }

    /// The diagnostics of kind `.ignored`.
    public var ignored: [ConfigDiagnostic] { diagnostics.filter { $0.kind == .ignored } }

    /// True when at least one line was rejected.
    public var hasErrors: Bool { diagnostics.contains { $0.kind == .error } }

    /// The counts of each kind in one line, such as "3 errors, 1 warning, 12 ignored lines".
    public var summary: String {
        var counts: [ConfigDiagnostic.Kind: Int] = [:]
        for diagnostic in diagnostics { counts[diagnostic.kind, default: 0] += 1 }
        func count(_ kind: ConfigDiagnostic.Kind, _ singular: String, _ plural: String) -> String {
            let number = counts[kind] ?? 0
            return "\(number) \(number == 1 ? singular : plural)"
        }
        return [
            count(.error, "error", "errors"), count(.warning, "warning", "warnings"),
            count(.ignored, "ignored line", "ignored lines"),
        ].joined(separator: ", ")
    }
}

/// Why a configuration file could not be read at all. Content problems never
/// throw; they become diagnostics.
public enum ConfigLoadError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened or read; `reason` is the system's error text.
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read configuration file \(path): \(reason)"
        }
    }
}
