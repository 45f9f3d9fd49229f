import Testing

@testable import SwitchyardLoop

#if canImport(Glibc)
import Glibc
#endif

@Suite("CPUBudget: the default loop count respects a cgroup CPU quota")
struct CPUBudgetTests {
    @Test func cgroupV2CPUMaxReadsAsCPUs() {
        #expect(CPUBudget.quota(cpuMax: "max 100000\n") == nil)
        #expect(CPUBudget.quota(cpuMax: "150000 100000\n") == 1.5)
        #expect(CPUBudget.quota(cpuMax: "50000 100000") == 0.5)
        #expect(CPUBudget.quota(cpuMax: "200000") == 2)  // period defaults to 100 ms
        #expect(CPUBudget.quota(cpuMax: "") == nil)
        #expect(CPUBudget.quota(cpuMax: "garbage 100000") == nil)
        #expect(CPUBudget.quota(cpuMax: "100000 0") == nil)
    }

    @Test func cgroupV1CFSQuotaReadsAsCPUs() {
        #expect(CPUBudget.quota(cfsQuota: "-1\n", cfsPeriod: "100000\n") == nil)
        #expect(CPUBudget.quota(cfsQuota: "250000\n", cfsPeriod: "100000\n") == 2.5)
        #expect(CPUBudget.quota(cfsQuota: "50000", cfsPeriod: "0") == nil)
    }

    @Test func aQuotaLimitsTheCoresRoundedUpAndNeverBelowOne() {
        #expect(CPUBudget.limit(cpus: 16, quota: nil) == 16)
        #expect(CPUBudget.limit(cpus: 16, quota: 1) == 1)
        #expect(CPUBudget.limit(cpus: 16, quota: 1.5) == 2)
        #expect(CPUBudget.limit(cpus: 16, quota: 0.25) == 1)
        #expect(CPUBudget.limit(cpus: 2, quota: 8) == 2)  // a quota above the CPUs does not add loops
        #expect(CPUBudget.limit(cpus: 0, quota: nil) == 1)
    }

    @Test func theProcessCgroupPathComesFromItsV2OrV1Line() {
        let hybrid = """
            12:cpu,cpuacct:/kubepods/pod1/abc
            4:memory:/kubepods/pod1/abc
            0::/system.slice/app.service

            """
        #expect(CPUBudget.cgroupPath(procSelfCgroup: hybrid, controller: nil) == "/system.slice/app.service")
        #expect(CPUBudget.cgroupPath(procSelfCgroup: hybrid, controller: "cpu") == "/kubepods/pod1/abc")
        #expect(CPUBudget.cgroupPath(procSelfCgroup: "0::/\n", controller: "cpu") == nil)
        #expect(CPUBudget.cgroupPath(procSelfCgroup: "3:cpuset:/x\n", controller: "cpu") == nil)
    }

    @Test func everyAncestorOfTheCgroupIsChecked() {
        #expect(CPUBudget.ancestors("/a/b/c") == ["/a/b/c", "/a/b", "/a", "/"])
        #expect(CPUBudget.ancestors("/") == ["/"])
    }

    @Test func theTightestQuotaOfTheCgroupAndItsAncestorsApplies() throws {
        let root = try TemporaryTree()
        defer { root.remove() }
        try root.write("kubepods/pod1/app/cpu.max", "max 100000\n")
        try root.write("kubepods/pod1/cpu.max", "150000 100000\n")
        try root.write("kubepods/cpu.max", "400000 100000\n")
        let v2 = "0::/kubepods/pod1/app\n"
        #expect(CPUBudget.quota(procSelfCgroup: v2, root: root.path) == 1.5)
        #expect(CPUBudget.quota(procSelfCgroup: "0::/elsewhere\n", root: root.path) == nil)
        // cgroup v1: the cpu controller's mount, -1 is no quota.
        try root.write("cpu/docker/abc/cpu.cfs_quota_us", "50000\n")
        try root.write("cpu/docker/abc/cpu.cfs_period_us", "100000\n")
        try root.write("cpu/docker/cpu.cfs_quota_us", "-1\n")
        try root.write("cpu/docker/cpu.cfs_period_us", "100000\n")
        #expect(CPUBudget.quota(procSelfCgroup: "4:cpu,cpuacct:/docker/abc\n", root: root.path) == 0.5)
        // A container with its own cgroup namespace sees its limit at the mount's top.
        let own = try TemporaryTree()
        defer { own.remove() }
        try own.write("cpu.max", "100000 100000\n")
        #expect(CPUBudget.quota(procSelfCgroup: "0::/\n", root: own.path) == 1)
    }

    @Test func theDefaultIsWithinTheAffinityMask() {
        #expect(CPUBudget.cores >= 1)
        #expect(CPUBudget.cores <= EventLoopGroup.affinityCPUs)
    }
}

/// A scratch directory standing in for a cgroup mount (files and directories are removed in `remove`).
private final class TemporaryTree {
    let path: String
    private var created: [String] = []

    init() throws {
        var template = Array("/tmp/cpubudget-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXFailure() }
        path = String(cString: made)
    }

    func write(_ relative: String, _ text: String) throws {
        var dir = path
        for part in relative.split(separator: "/").dropLast() {
            dir += "/" + part
            if mkdir(dir, 0o755) == 0 { created.append(dir) }
        }
        guard let file = fopen(path + "/" + relative, "w") else { throw POSIXFailure() }
        defer { fclose(file) }
        fputs(text, file)
        created.append(path + "/" + relative)
    }

    func remove() {
        // Deepest first: files were recorded after their directories.
        for entry in created.reversed() where unlink(entry) != 0 { rmdir(entry) }
        rmdir(path)
    }
}

private struct POSIXFailure: Error {}
