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
/// comment, `end` ends the file, and a known IOS command that Tagline does not
/// implement is reported once as ignored. Within a command family that Tagline
/// implements, a keyword that is neither implemented nor listed in
/// `KnownIOSCommands` is an error ("unknown command"), and so is a command cut
/// short ("incomplete command"). An invalid line is reported as an error and
/// rejected while the rest of the file still applies. A line that replaces an
/// earlier line's value gets a warning. `parse` cannot throw, and `load` throws
/// only when the file cannot be read.
///
/// Implemented commands: `crypto ikev2 proposal|policy|keyring|profile`,
/// `crypto ikev2 cts sgt`, `crypto ipsec transform-set|profile`, `crypto ipsec
/// security-association lifetime|replay window-size`, `crypto map NAME SEQ [ipsec-isakmp]`, `crypto
/// map NAME SEQ ipsec-isakmp dynamic DYNMAP`, `crypto dynamic-map NAME SEQ`,
/// `ip access-list extended`, numbered extended `access-list`, `ipv6
/// access-list`, `interface`, `ip route`, `ipv6 route` and `cts role-based
/// sgt-map`. Tagline adds two commands of its own: `crypto ipsec inline-tagging
/// next-header N`, which sets the ESP Next Header value that marks a CMD header
/// (253 by default, see `GatewayConfig.cmdNextHeader`), and `crypto ipsec esn`,
/// which offers extended sequence numbers (see `GatewayConfig.extendedSequenceNumbers`).
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
    /// is a directory, or exceeds `maxFileSize`. The lines that contain bytes that
    /// are not valid UTF-8 are reported as errors.
    public static func load(path: String) throws -> ConfigLoadResult {
        let bytes = try readFile(path: path)
        return parse(bytes: bytes)
    }

    /// Parses configuration text. A leading byte order mark (U+FEFF) is skipped.
    public static func parse(text: String) -> ConfigLoadResult {
        parse(utf8: text.utf8)
    }

    /// Parses configuration bytes as UTF-8. A leading UTF-8 byte order mark
    /// (EF BB BF) is skipped. A line with bytes that are not UTF-8 is rejected,
    /// and its diagnostic shows those bytes as `\xNN`.
    public static func parse(bytes: [UInt8]) -> ConfigLoadResult {
        parse(utf8: bytes)
    }

    private static func parse<Bytes: Collection>(utf8 bytes: Bytes) -> ConfigLoadResult
    where Bytes.Element == UInt8 {
        var parser = ConfigParser()
        var number = 0
        let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
        let body = bytes.starts(with: byteOrderMark) ? bytes.dropFirst(3) : bytes.dropFirst(0)
        for slice in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            let (text, hasInvalidBytes) = DisplayText.decode(slice)
            let line = ConfigLine(number: number, raw: text, hasInvalidBytes: hasInvalidBytes)
            if !parser.process(line) { break }
        }
        return parser.finish()
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
