// The SQLite wrapper on real files.

import Foundation
import TaglineStore
import XCTest

final class SQLiteDatabaseTests: XCTestCase {
    var directory = ""

    override func setUp() { directory = makeTemporaryDirectory() }
    override func tearDown() { removeDirectory(directory) }

    func testOpenSetsWALAndFileMode() throws {
        let path = directory + "/test.db"
        let database = try SQLiteDatabase(path: path)
        XCTAssertEqual(try database.query("PRAGMA journal_mode").first?.first, .text("wal"))
        // synchronous NORMAL is 1.
        XCTAssertEqual(try database.query("PRAGMA synchronous").first?.first, .integer(1))
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
    }

    func testValuesRoundTrip() throws {
        let database = try SQLiteDatabase(path: directory + "/values.db")
        try database.execute("CREATE TABLE t (a, b, c, d, e)")
        let values: [SQLiteValue] = [
            .integer(-5), .real(1.5), .text("sa-manager ✓"), .blob([0, 1, 255]), .null,
        ]
        try database.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)", values)
        XCTAssertEqual(try database.query("SELECT a, b, c, d, e FROM t"), [values])
        XCTAssertEqual(SQLiteValue.unsigned(UInt64.max).unsigned, UInt64.max)
    }

    func testErrorsCarryMessageAndSQL() throws {
        let database = try SQLiteDatabase(path: directory + "/errors.db")
        XCTAssertThrowsError(try database.run("SELEC nonsense")) {
            guard let error = $0 as? SQLiteError else { return XCTFail("\($0)") }
            XCTAssertEqual(error.sql, "SELEC nonsense")
            XCTAssertTrue(error.message.contains("syntax error"), error.message)
        }
        try database.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        try database.run("INSERT INTO t VALUES (?)", [.integer(1)])
        XCTAssertThrowsError(try database.run("INSERT INTO t VALUES (?)", [.integer(1)])) {
            guard let error = $0 as? SQLiteError else { return XCTFail("\($0)") }
            // SQLITE_CONSTRAINT_PRIMARYKEY is 19 | (6 << 8), a macro Swift cannot import.
            XCTAssertEqual(error.code, 19 | (6 << 8))
        }
        XCTAssertThrowsError(try database.run("INSERT INTO t VALUES (?)", []))
    }

    func testTransactionRollsBackOnThrow() throws {
        let database = try SQLiteDatabase(path: directory + "/tx.db")
        try database.execute("CREATE TABLE t (k INTEGER)")
        struct Abort: Error {}
        XCTAssertThrowsError(
            try database.transaction {
                try database.run("INSERT INTO t VALUES (1)")
                throw Abort()
            })
        XCTAssertEqual(try database.query("SELECT count(*) FROM t").first?.first, .integer(0))
        try database.transaction {
            try database.run("INSERT INTO t VALUES (2)")
            try database.transaction { try database.run("INSERT INTO t VALUES (3)") }
        }
        XCTAssertEqual(try database.query("SELECT count(*) FROM t").first?.first, .integer(2))
    }
}
