// libFuzzer entry for one target; RLEIF_FUZZ_TARGET names the function (set per binary by CMake).
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return rleif::fuzz::RLEIF_FUZZ_TARGET(data, size);
}
