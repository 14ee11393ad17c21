import CFuzzer

/// Starts libFuzzer's driver with the process's flags and `callback` as the target. Each target
/// calls it from the entry point SwiftPM links as `main` (`@_cdecl("<Target>_main")`).
public func runLibFuzzer(
    _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, callback)
}
