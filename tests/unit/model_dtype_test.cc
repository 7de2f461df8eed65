// The one parser of dtype and device names (model/dtype.h) every subcommand uses: each accepted
// spelling, and errors that name the config field and the accepted names.
#include <gtest/gtest.h>

#include "model/dtype.h"
#include "tests/test_util.h"

namespace rleif::model {
namespace {

using test::error_of;

TEST(ParseTorchDtype, EverySpelling) {
  for (const char* n : {"float32", "fp32", "float"}) EXPECT_EQ(parse_torch_dtype(n, "dtype"), torch::kFloat32) << n;
  for (const char* n : {"bfloat16", "bf16"}) EXPECT_EQ(parse_torch_dtype(n, "dtype"), torch::kBFloat16) << n;
  for (const char* n : {"float16", "fp16", "half"}) EXPECT_EQ(parse_torch_dtype(n, "dtype"), torch::kFloat16) << n;
}

TEST(ParseTorchDtype, NamesReadBack) {
  for (auto t : {torch::kFloat32, torch::kBFloat16, torch::kFloat16})
    EXPECT_EQ(parse_torch_dtype(torch_dtype_name(t), "dtype"), t);
}

TEST(ParseTorchDtype, BadNameNamesFieldAndChoices) {
  for (const char* bad : {"", "f32", "FP32", "int8", "bfloat", "float64"}) {
    const std::string e = error_of([&] { parse_torch_dtype(bad, "serve: dtype"); });
    EXPECT_NE(e.find("serve: dtype = '" + std::string(bad) + "'"), std::string::npos) << e;
    for (const char* choice : {"float32", "fp32", "bfloat16", "bf16", "float16", "fp16", "half"})
      EXPECT_NE(e.find(choice), std::string::npos) << e;
  }
}

TEST(DeviceName, EverySpellingChecks) {
  for (const char* n : {"auto", "cpu", "cuda", "cuda:0", "cuda:1", "cuda:15"})
    EXPECT_EQ(error_of([&] { check_device_name(n, "train.device"); }), "") << n;
}

TEST(DeviceName, BadNameNamesFieldAndChoices) {
  for (const char* bad : {"", "gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:1a", "cuda0", "mps", "cpu:0", " cpu"}) {
    const std::string e = error_of([&] { check_device_name(bad, "train.device"); });
    EXPECT_NE(e.find("train.device = '" + std::string(bad) + "'"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("expected auto, cpu, cuda or cuda:N"), std::string::npos) << e;
    // parse_device checks the spelling first, with the same message.
    EXPECT_EQ(error_of([&] { parse_device(bad, "train.device"); }), e);
  }
}

TEST(ParseDevice, CpuAndAuto) {
  EXPECT_EQ(parse_device("cpu", "device"), torch::Device(torch::kCPU));
  const torch::Device a = parse_device("auto", "device");
  if (torch::cuda::is_available()) EXPECT_EQ(a, torch::Device(torch::kCUDA, 0));
  else EXPECT_EQ(a, torch::Device(torch::kCPU));
}

TEST(ParseDevice, CudaNeedsTheDevice) {
  if (!torch::cuda::is_available()) {
    for (const char* n : {"cuda", "cuda:0"}) {
      const std::string e = error_of([&] { parse_device(n, "eval: device"); });
      EXPECT_NE(e.find("eval: device = '" + std::string(n) + "': no CUDA device is visible"), std::string::npos) << e;
    }
    return;
  }
  EXPECT_EQ(parse_device("cuda", "device"), torch::Device(torch::kCUDA, 0));
  const int64_t n = static_cast<int64_t>(torch::cuda::device_count());
  EXPECT_EQ(parse_device("cuda:" + std::to_string(n - 1), "device"),
            torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(n - 1)));
  const std::string e = error_of([&] { parse_device("cuda:" + std::to_string(n), "device"); });
  EXPECT_NE(e.find("CUDA device(s) visible"), std::string::npos) << e;
}

}  // namespace
}  // namespace rleif::model
