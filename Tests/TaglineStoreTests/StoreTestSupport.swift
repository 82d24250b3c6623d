// Temporary directories for store tests.

import Foundation

/// Creates a private directory under /tmp; the caller removes it with `removeDirectory`.
func makeTemporaryDirectory() -> String {
    var template = Array("/tmp/tlstore-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let result = mkdtemp(buffer.baseAddress!) else {
            fatalError("mkdtemp failed: \(errno)")
        }
        return String(cString: result)
    }
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
