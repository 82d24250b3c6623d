// Errors of the stores above SQLite: rows that do not decode.

/// A stored row that cannot be turned back into its model type.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// Row `key` of `table` is invalid; `reason` names the bad column.
    case invalidRow(table: String, key: String, reason: String)
    /// Every random SPI tried was already in use.
    case noFreeSPI(attempts: Int)

    public var description: String {
        switch self {
        case .invalidRow(let table, let key, let reason):
            return "invalid row \(key) in table \(table): \(reason)"
        case .noFreeSPI(let attempts):
            return "no free SPI found in \(attempts) random attempts"
        }
    }
}
