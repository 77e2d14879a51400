// libFuzzer's driver, declared for Swift (compiler-rt's FuzzerInterface.h/FuzzerDriver.cpp): it is
// linked by -sanitize=fuzzer (scripts/fuzz.sh) and by nothing else. SwiftPM renames an executable's
// main, so libFuzzer's own main cannot be used: myconn-fuzz's main calls the driver.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
