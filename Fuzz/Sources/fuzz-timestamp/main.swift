import FuzzTargets
import Glibc

// SwiftPM gives every executable its own renamed main, so libFuzzer's main() is never linked in:
// this main hands libFuzzer's command line to its driver, with the target as the callback.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    FuzzTargets.run("timestamp", UnsafeBufferPointer(start: data, count: size))
    return 0
}
exit(status)
