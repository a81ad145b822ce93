import FuzzTargets
import Glibc

// Usage: cvm-fuzz TARGET [libFuzzer options and corpus folders]; TARGET is one of FuzzTargets.names.
// SwiftPM gives every executable its own renamed main, so libFuzzer's main() is never linked in:
// this main removes TARGET and hands the rest of the command line to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

guard CommandLine.arguments.count >= 2, FuzzTargets.names.contains(CommandLine.arguments[1]) else {
    print("usage: cvm-fuzz \(FuzzTargets.names.joined(separator: "|")) [libFuzzer options] [corpus folders]")
    exit(64)
}
// Read by the C callback, which cannot capture.
nonisolated(unsafe) var target = CommandLine.arguments[1]
var argc = CommandLine.argc - 1
var argv = CommandLine.unsafeArgv
argv[1] = argv[0]  // libFuzzer reads the program name from argv[0]
var shifted = argv + 1
let status = LLVMFuzzerRunDriver(&argc, &shifted) { data, size in
    FuzzTargets.run(target, UnsafeBufferPointer(start: data, count: size))
    return 0
}
exit(status)
