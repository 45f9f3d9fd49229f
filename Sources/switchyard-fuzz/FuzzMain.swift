import SwitchyardFuzz

#if canImport(Glibc)
import Glibc
#endif

// One binary for every target, picked with `--target=NAME` (libFuzzer ignores flags that start
// with `--`). Built by `scripts/fuzz` with `-sanitize=fuzzer,address` and SWITCHYARD_LIBFUZZER,
// libFuzzer's `main` drives `LLVMFuzzerTestOneInput`; in the normal build the same binary
// replays files: `switchyard-fuzz --target=json FILE...`.

/// The target named on the command line; nil until parsed.
nonisolated(unsafe) var selected: FuzzTarget?

func parseTarget(_ arguments: [String]) -> FuzzTarget {
    if arguments.contains("--list") {
        for target in FuzzTarget.allCases { print(target.rawValue) }
        exit(0)
    }
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    guard let flag = arguments.first(where: { $0.hasPrefix("--target=") }) else {
        fail("name a target with --target=NAME (\(names)) or list them with --list", code: 2)
    }
    guard let target = FuzzTarget(rawValue: String(flag.dropFirst("--target=".count))) else {
        fail("unknown target in \(flag) (\(names))", code: 2)
    }
    return target
}

func fail(_ message: String, code: Int32) -> Never {
    let line = Array("switchyard-fuzz: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

/// Runs one input; a broken invariant ends the process the way a crash does, so libFuzzer
/// keeps the input.
func runOne(_ target: FuzzTarget, _ input: [UInt8]) {
    do {
        try target.runBlocking(input)
    } catch {
        fatalError("\(target.rawValue): \(error)")
    }
}

#if SWITCHYARD_LIBFUZZER
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>
) -> CInt {
    let arguments = (0..<Int(argc.pointee)).compactMap { argv.pointee[$0].map { String(cString: $0) } }
    selected = parseTarget(arguments)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selected else { fatalError("LLVMFuzzerInitialize did not run") }
    runOne(target, data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#else
@main
enum Replay {
    static func main() {
        let arguments = CommandLine.arguments
        let target = parseTarget(arguments)
        let files = arguments.dropFirst().filter { !$0.hasPrefix("--") }
        for path in files {
            guard let bytes = readFile(path) else { fail("cannot read \(path)", code: 1) }
            runOne(target, bytes)
            print("ok: \(target.rawValue) \(path)")
        }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n > 0 { bytes += buffer[..<n] }
            if n < buffer.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}
#endif
