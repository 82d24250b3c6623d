// A prepared statement: bind, step, read columns, reset.

import CSQLite

/// `SQLITE_TRANSIENT`, a C macro that Swift cannot import. It makes SQLite
/// copy bound text and blobs before the bind call returns.
private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement owned by its database's cache.
public final class SQLiteStatement {
    private unowned let database: SQLiteDatabase
    private let handle: OpaquePointer
    public let sql: String

    init(database: SQLiteDatabase, sql: String) throws {
        self.database = database
        self.sql = sql
        var statement: OpaquePointer?
        let result = sqlite3_prepare_v2(database.handle, sql, -1, &statement, nil)
        guard result == SQLITE_OK, let statement else {
            throw database.error(result, sql: sql)
        }
        handle = statement
    }

    deinit {
        sqlite3_finalize(handle)
    }

    private func bind(_ values: [SQLiteValue]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard values.count == expected else {
            throw SQLiteError(
                code: SQLITE_RANGE,
                message: "\(values.count) values for \(expected) parameters",
                sql: sql)
        }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let result: Int32
            switch value {
            case .integer(let number):
                result = sqlite3_bind_int64(handle, index, number)
            case .real(let number):
                result = sqlite3_bind_double(handle, index, number)
            case .text(let text):
                result = sqlite3_bind_text(handle, index, text, -1, transientDestructor)
            case .blob(let bytes):
                result = bytes.withUnsafeBytes { raw in
                    sqlite3_bind_blob(
                        handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                        Int32(raw.count), transientDestructor)
                }
            case .null:
                result = sqlite3_bind_null(handle, index)
            }
            if result != SQLITE_OK { throw database.error(result, sql: sql) }
        }
    }

    /// Runs the statement to completion, discarding rows.
    public func run(_ values: [SQLiteValue] = []) throws {
        _ = try query(values)
    }

    /// Runs the statement and returns every row as column values.
    public func query(_ values: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        try bind(values)
        defer { sqlite3_reset(handle) }
        var rows: [[SQLiteValue]] = []
        while true {
            let result = sqlite3_step(handle)
            if result == SQLITE_DONE { return rows }
            guard result == SQLITE_ROW else { throw database.error(result, sql: sql) }
            rows.append(currentRow())
        }
    }

    private func currentRow() -> [SQLiteValue] {
        let count = sqlite3_column_count(handle)
        var row: [SQLiteValue] = []
        row.reserveCapacity(Int(count))
        for column in 0..<count {
            switch sqlite3_column_type(handle, column) {
            case SQLITE_INTEGER:
                row.append(.integer(sqlite3_column_int64(handle, column)))
            case SQLITE_FLOAT:
                row.append(.real(sqlite3_column_double(handle, column)))
            case SQLITE_TEXT:
                let text = sqlite3_column_text(handle, column).map { String(cString: $0) } ?? ""
                row.append(.text(text))
            case SQLITE_BLOB:
                let size = Int(sqlite3_column_bytes(handle, column))
                if size > 0, let data = sqlite3_column_blob(handle, column) {
                    let bytes = data.assumingMemoryBound(to: UInt8.self)
                    row.append(.blob(Array(UnsafeBufferPointer(start: bytes, count: size))))
                } else {
                    row.append(.blob([]))
                }
            default:
                row.append(.null)
            }
        }
        return row
    }
}

extension SQLiteValue {
    /// The integer, or nil for any other type.
    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The text, or nil for any other type.
    public var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    /// The real number, or the integer converted, or nil.
    public var real: Double? {
        switch self {
        case .real(let value): return value
        case .integer(let value): return Double(value)
        default: return nil
        }
    }

    /// Stores a UInt64 in SQLite's signed 64-bit integer by bit pattern.
    public static func unsigned(_ value: UInt64) -> SQLiteValue {
        .integer(Int64(bitPattern: value))
    }

    /// Reads back a value stored with `unsigned(_:)`.
    public var unsigned: UInt64? { integer.map { UInt64(bitPattern: $0) } }
}
