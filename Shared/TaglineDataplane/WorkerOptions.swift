// Options of a worker thread: the CPU it is pinned to, and how long it keeps
// polling empty rings before it sleeps in poll(). The `--cpus` and `--idle-us`
// options of dataplane-tagger set them.

import CTaglineShim

#if canImport(Glibc)
    import Glibc
#endif

public struct WorkerOptions: Equatable, Sendable {
    /// Default spin time before sleeping: long enough to catch the next burst of a busy flow,
    /// short enough that an idle gateway sleeps almost all the time.
    public static let defaultIdleMicroseconds = 200
    /// Upper bound of the spin time (10 s), so that deadlines never wrap.
    public static let maximumIdleMicroseconds = 10_000_000

    /// The CPU the thread is pinned to, or nil to leave placement to the scheduler.
    public var cpu: Int?
    /// Time of empty polls before the worker sleeps in poll(). Zero sleeps at the first one.
    public var idleNanoseconds: UInt64

    public init(cpu: Int? = nil, idleMicroseconds: Int = WorkerOptions.defaultIdleMicroseconds) {
        self.cpu = cpu
        let microseconds = min(max(idleMicroseconds, 0), WorkerOptions.maximumIdleMicroseconds)
        idleNanoseconds = UInt64(microseconds) * 1000
    }
}

public struct CPUListError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

/// A CPU list as `taskset -c` and the kernel's cpulist files write it: `0,1`, `0-3`, `0-1,6`.
public enum CPUList {
    /// The largest CPU number pthread_setaffinity_np takes through a fixed cpu_set_t.
    public static let maximumCPU = 1023

    /// Parses `text` into CPU numbers in the order written, each range in ascending order.
    public static func parse(_ text: String) throws -> [Int] {
        var cpus: [Int] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count),
                let first = number(bounds[0]), let last = number(bounds[bounds.count - 1]),
                first <= last
            else { throw CPUListError(description: "invalid CPU list item '\(item)' in '\(text)'") }
            for cpu in first...last {
                guard !cpus.contains(cpu) else {
                    throw CPUListError(description: "CPU \(cpu) appears twice in '\(text)'")
                }
                cpus.append(cpu)
            }
        }
        return cpus
    }

    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.allSatisfy({ ("0"..."9").contains($0) }), let value = Int(text),
            (0...maximumCPU).contains(value)
        else { return nil }
        return value
    }

    /// Throws when a CPU lies outside the process's allowed set (sched_getaffinity), as under
    /// `taskset` or a cgroup cpuset, or on a machine with fewer CPUs.
    public static func checkAllowed(_ cpus: [Int]) throws {
        for cpu in cpus {
            switch tagline_cpu_allowed(Int32(cpu)) {
            case 1: continue
            case 0:
                let allowed = (0...maximumCPU).filter { tagline_cpu_allowed(Int32($0)) == 1 }
                throw CPUListError(
                    description: "CPU \(cpu) is not in this process's allowed CPU set; "
                        + "use one of \(allowed.map(String.init).joined(separator: ","))")
            default:
                throw CPUListError(
                    description: "reading the allowed CPU set failed: "
                        + String(cString: strerror(errno)))
            }
        }
    }
}
