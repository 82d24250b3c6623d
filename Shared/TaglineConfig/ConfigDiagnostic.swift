// Diagnostics that the loader reports about a configuration file, line by line.

/// One message about one line of the configuration file.
public struct ConfigDiagnostic: Equatable, Sendable, CustomStringConvertible {
    /// The loader's treatment of the line.
    public enum Kind: String, Equatable, Sendable {
        /// A valid command that Tagline does not implement; the line has no effect.
        case ignored
        /// An invalid or inconsistent line; it was rejected and the rest of the file applies.
        case error
    }

    /// 1-based line number in the file.
    public var line: Int
    public var kind: Kind
    /// The line as written, without the line break and surrounding spaces.
    public var text: String
    public var message: String

    public init(line: Int, kind: Kind, text: String, message: String) {
        self.line = line
        self.kind = kind
        self.text = text
        self.message = message
    }

    /// `line 118: ignored (not implemented): logging esm config` or
    /// `line 27: error: ikev2 profile prof1_ipv4 is not defined (set ikev2-profile prof1_ipv4)`.
    public var description: String {
        switch kind {
        case .ignored:
            return "line \(line): ignored (\(message)): \(text)"
        case .error:
            return "line \(line): error: \(message) (\(text))"
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

    /// The diagnostics of kind `.ignored`.
    public var ignored: [ConfigDiagnostic] { diagnostics.filter { $0.kind == .ignored } }

    /// True when at least one line was rejected.
    public var hasErrors: Bool { diagnostics.contains { $0.kind == .error } }
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
