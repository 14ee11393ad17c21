// libFuzzer's driver, called (through FuzzSupport) from the entry point SwiftPM gives an executable (<Target>_main):
// SwiftPM links every executable with main defined as that symbol, so libFuzzer's own main is
// never linked, and the target starts the driver itself.
#pragma once
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
