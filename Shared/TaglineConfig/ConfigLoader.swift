// Entry points that read a configuration file or text and return the model
// with its diagnostics.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loads the IOS configuration subset.
///
/// Parsing follows IOS rather than indentation: each line is tried as a command
/// of the current configuration mode first, then of the enclosing modes up to
/// global mode, so a sub-mode command may start at column 0. `!` starts a
/// comment, `end` ends the file, and a line that Tagline does not implement is
/// reported once as ignored. An invalid line is reported as an error and
/// rejected while the rest of the file still applies: `parse` cannot throw, and
/// `load` throws only when the file cannot be read.
///
/// Implemented commands: `crypto ikev2 proposal|policy|keyring|profile`,
/// `crypto ikev2 cts sgt`, `crypto ipsec transform-set|profile`, `crypto ipsec
/// security-association lifetime`, `crypto map NAME SEQ [ipsec-isakmp]`, `crypto
/// map NAME SEQ ipsec-isakmp dynamic DYNMAP`, `crypto dynamic-map NAME SEQ`,
/// `ip access-list extended`, numbered extended `access-list`, `ipv6
/// access-list`, `interface`, `ip route`, `ipv6 route` and `cts role-based
/// sgt-map`. Tagline adds one command of its own, `crypto ipsec inline-tagging
/// next-header N`, which sets the ESP Next Header value that marks a CMD header
/// (253 by default, see `GatewayConfig.cmdNextHeader`).
///
/// After an ignored command such as `line vty 0 4`, lines that are neither
/// implemented commands nor known global commands at column 0 are taken as its
/// sub-lines and ignored too, because IOS does not mark where such a block ends.
/// A line whose first word has characters no command has, such as `%%%`, is
/// an error instead.
public enum ConfigLoader {
    /// Files larger than this are rejected before parsing, so that a mistaken
    /// path to a huge file cannot exhaust memory.
    public static let maxFileSize = 16 * 1024 * 1024

    /// Reads and parses the file at `path`.
    ///
    /// Throws `ConfigLoadError.unreadable` when the file cannot be opened or read,
    /// is a directory, or exceeds `maxFileSize`. Bytes that are not valid UTF-8
    /// become U+FFFD and the lines that contain them are reported as errors.
    public static func load(path: String) throws -> ConfigLoadResult {
        let bytes = try readFile(path: path)
        return parse(bytes: bytes)
    }

    /// Parses configuration text.
    public static func parse(text: String) -> ConfigLoadResult {
        var parser = ConfigParser()
        var number = 0
        for slice in text.utf8.split(
            separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        {
            number += 1
            let line = ConfigLine(number: number, raw: String(decoding: slice, as: UTF8.self))
            if !parser.process(line) { break }
        }
        return parser.finish()
    }

    /// Parses configuration bytes, decoding them as UTF-8.
    public static func parse(bytes: [UInt8]) -> ConfigLoadResult {
        parse(text: String(decoding: bytes, as: UTF8.self))
    }

    /// Reads a whole file with open(2) and read(2), retrying on EINTR.
    private static func readFile(path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ConfigLoadError.unreadable(path: path, reason: systemError("open"))
        }
        defer { close(descriptor) }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ConfigLoadError.unreadable(path: path, reason: systemError("fstat"))
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            throw ConfigLoadError.unreadable(path: path, reason: "it is a directory")
        }

        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ConfigLoadError.unreadable(path: path, reason: systemError("read"))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maxFileSize {
                throw ConfigLoadError.unreadable(
                    path: path, reason: "file is larger than \(maxFileSize) bytes")
            }
        }
        return bytes
    }

    private static func systemError(_ call: String) -> String {
        let code = errno
        return "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
    }
}
