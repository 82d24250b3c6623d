// A small wrapper over the SQLite C API: one connection, WAL journal with
// synchronous=NORMAL, cached prepared statements and transactions. With WAL
// and NORMAL, a committed transaction survives the process being killed,
// SIGKILL included. Only an OS crash or power loss can lose the last commits.

import CSQLite

#if canImport(Glibc)
    import Glibc
#endif

/// A failed SQLite call, with the sqlite3 result code, its message and the SQL.
public struct SQLiteError: Error, Equatable, CustomStringConvertible {
    /// The extended result code (`sqlite3_extended_errcode`).
    public var code: Int32
    public var message: String
    /// The statement that failed, or the operation for calls without SQL.
    public var sql: String

    public init(code: Int32, message: String, sql: String) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    public var description: String {
        "SQLite error \(code): \(message) (in: \(sql))"
    }
}

/// A value bound to or read from a statement.
public enum SQLiteValue: Equatable, Sendable {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null
}

/// One SQLite connection. Not thread-safe: each service uses its database
/// from its event loop only.
public final class SQLiteDatabase {
    public let path: String
    let handle: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]
    private var transactionDepth = 0

    /// Opens or creates the database at `path` (`sqlite3_open_v2`). A new
    /// file is created with mode 0600, and SQLite gives its -wal and -shm
    /// files the same mode, because they can contain key material. Sets
    /// journal_mode=WAL, synchronous=NORMAL, foreign_keys=ON and a 5 s busy timeout.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 {
            let reason = String(cString: strerror(errno))
            throw SQLiteError(code: SQLITE_CANTOPEN, message: reason, sql: "open \(path)")
        }
        close(fd)

        var connection: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let result = sqlite3_open_v2(path, &connection, flags, nil)
        guard result == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(connection)
            throw SQLiteError(code: result, message: message, sql: "sqlite3_open_v2 \(path)")
        }
        handle = connection
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, 5000)
        do {
            let mode = try queryText("PRAGMA journal_mode=WAL")
            guard mode?.lowercased() == "wal" else {
                throw SQLiteError(
                    code: SQLITE_ERROR, message: "journal mode is \(mode ?? "nil")",
                    sql: "PRAGMA journal_mode=WAL")
            }
            try execute("PRAGMA synchronous=NORMAL")
            try execute("PRAGMA foreign_keys=ON")
        } catch {
            sqlite3_close_v2(handle)
            throw error
        }
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ code: Int32, sql: String) -> SQLiteError {
        SQLiteError(
            code: sqlite3_extended_errcode(handle),
            message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements without parameters (`sqlite3_exec`).
    public func execute(_ sql: String) throws {
        let result = sqlite3_exec(handle, sql, nil, nil, nil)
        if result != SQLITE_OK { throw error(result, sql: sql) }
    }

    /// Returns the cached prepared statement for `sql`, preparing it on first use.
    public func prepare(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        let statement = try SQLiteStatement(database: self, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// Runs `sql` with `values` bound to its parameters, discarding any rows.
    public func run(_ sql: String, _ values: [SQLiteValue] = []) throws {
        try prepare(sql).run(values)
    }

    /// Runs a query and returns every row.
    public func query(_ sql: String, _ values: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        try prepare(sql).query(values)
    }

    /// Runs a query and returns the first column of its first row as text.
    func queryText(_ sql: String) throws -> String? {
        guard let first = try query(sql).first?.first else { return nil }
        if case .text(let value) = first { return value }
        return nil
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE (`sqlite3_changes`).
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it
    /// throws. The commit has returned by the time this returns, so a caller
    /// can acknowledge the change. Nested calls join the outer transaction.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if transactionDepth > 0 {
            transactionDepth += 1
            defer { transactionDepth -= 1 }
            return try body()
        }
        try execute("BEGIN IMMEDIATE")
        transactionDepth = 1
        defer { transactionDepth = 0 }
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // ROLLBACK fails only when SQLite already rolled back by itself.
            try? execute("ROLLBACK")
            throw error
        }
    }
}
