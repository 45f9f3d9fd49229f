import CEventLoop

#if canImport(Glibc)
import Glibc
#endif

/// How many cores' worth of CPU time this process may use: the CPUs of its affinity mask (which
/// `taskset` and a container's cpuset narrow), further limited by a CPU quota of its cgroup
/// (`docker --cpus`, a Kubernetes CPU limit). A quota does not hide CPUs, it throttles: a
/// container limited to 1 CPU on a 16-core host sees 16 CPUs, and 16 loops would share one CPU's
/// time while each paid its own wake-ups. Go (1.25, GOMAXPROCS), the JVM and .NET read the quota
/// the same way and round it up: 1.5 CPUs is 2 loops, 0.5 CPU is 1.
///
/// cgroup v2: `cpu.max` ("max 100000" unlimited, "150000 100000" = 1.5 CPUs) of the process's
/// cgroup and of each ancestor (the tightest applies). cgroup v1: `cpu.cfs_quota_us` (-1
/// unlimited) over `cpu.cfs_period_us`.
public enum CPUBudget {
    /// Cores the loops may use: the affinity mask's CPU count, limited by the cgroup quota.
    public static var cores: Int {
        limit(cpus: Int(sy_loop_available_cpus()), quota: quota())
    }

    /// `cpus` limited by `quota` (in CPUs) rounded up; at least 1.
    static func limit(cpus: Int, quota: Double?) -> Int {
        let cpus = max(1, cpus)
        guard let quota, quota > 0, quota.isFinite else { return cpus }
        return max(1, min(cpus, Int(quota.rounded(.up))))
    }

    /// The quota in CPUs from a cgroup v2 `cpu.max` text, or nil when unlimited or unreadable.
    static func quota(cpuMax: String) -> Double? {
        let fields = cpuMax.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 1, fields[0] != "max", let quota = Double(fields[0]), quota > 0 else { return nil }
        let period = fields.count >= 2 ? Double(fields[1]) ?? 100_000 : 100_000
        guard period > 0 else { return nil }
        return quota / period
    }

    /// The quota in CPUs from cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`, or nil.
    static func quota(cfsQuota: String, cfsPeriod: String) -> Double? {
        guard let quota = Double(cfsQuota.trimmingNewlines), quota > 0,
            let period = Double(cfsPeriod.trimmingNewlines), period > 0
        else { return nil }
        return quota / period
    }

    /// The process's cgroup path for a controller from `/proc/self/cgroup`: the v2 line `0::PATH`
    /// when `controller` is nil, else the v1 line whose controller list holds it.
    static func cgroupPath(procSelfCgroup: String, controller: String?) -> String? {
        for line in procSelfCgroup.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if let controller {
                if parts[1].split(separator: ",").contains(where: { $0 == controller }) { return String(parts[2]) }
            } else if parts[0] == "0", parts[1].isEmpty {
                return String(parts[2])
            }
        }
        return nil
    }

    /// `path` and each ancestor up to "/", deepest first.
    static func ancestors(_ path: String) -> [String] {
        var result: [String] = []
        var current = path.hasPrefix("/") ? path : "/" + path
        while true {
            result.append(current)
            guard current != "/", let slash = current.lastIndex(of: "/") else { break }
            current = slash == current.startIndex ? "/" : String(current[..<slash])
        }
        return result
    }

    /// The tightest CPU quota of this process's cgroups (in CPUs), or nil when none is set.
    /// `root` is where cgroupfs is mounted. Inside a container with its own cgroup namespace the
    /// path is "/" and the container's limit is the root's file; without one, the host path
    /// may not exist in the container's mount, so the mount's own files are tried as well.
    static func quota(root: String = "/sys/fs/cgroup") -> Double? {
        guard let cgroups = readSmallFile("/proc/self/cgroup") else { return nil }
        return quota(procSelfCgroup: cgroups, root: root)
    }

    /// `quota(root:)` for a given `/proc/self/cgroup` text.
    static func quota(procSelfCgroup cgroups: String, root: String) -> Double? {
        var tightest: Double?
        func consider(_ value: Double?) {
            guard let value else { return }
            tightest = min(tightest ?? value, value)
        }
        if let path = cgroupPath(procSelfCgroup: cgroups, controller: nil) {
            for dir in ancestors(path) + ["/"] {
                consider(readSmallFile(root + join(dir, "cpu.max")).flatMap { quota(cpuMax: $0) })
            }
        }
        if let path = cgroupPath(procSelfCgroup: cgroups, controller: "cpu") {
            for mount in [root + "/cpu", root + "/cpu,cpuacct"] {
                for dir in ancestors(path) + ["/"] {
                    guard let q = readSmallFile(mount + join(dir, "cpu.cfs_quota_us")),
                        let p = readSmallFile(mount + join(dir, "cpu.cfs_period_us"))
                    else { continue }
                    consider(quota(cfsQuota: q, cfsPeriod: p))
                }
            }
        }
        return tightest
    }

    private static func join(_ dir: String, _ file: String) -> String {
        dir.hasSuffix("/") ? dir + file : dir + "/" + file
    }

    /// The first 4 KiB of a file as text, or nil when it cannot be read.
    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }
}

extension String {
    fileprivate var trimmingNewlines: Substring {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == " " { s = s.dropLast() }
        return s
    }
}
