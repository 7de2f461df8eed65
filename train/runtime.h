// Process-wide training runtime: device choice, thread count, deterministic algorithms,
// bf16 autocast, RNG state capture/restore and SIGINT/SIGTERM handling.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "core/options.h"

namespace rleif::train {

enum class Precision { auto_, fp32, bf16 };

// The compute dtype autocast uses on `device` for `p`, or nullopt for plain fp32.
// auto = bf16 autocast on CUDA, fp32 on the CPU.
std::optional<torch::ScalarType> autocast_dtype(Precision p, const torch::Device& device);
// threads > 0 fixes the intra-op thread count (needed for bitwise-reproducible CPU runs).
void configure_threads(int threads);
// Seeds torch's generators and, when `deterministic`, selects deterministic kernels
// (cuBLAS workspace config included) so the same config and seed give the same loss curve.
void configure_determinism(bool deterministic, uint64_t seed);

// Enables autocast on `device` for a scope (torch.autocast(device_type, dtype) in C++).
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, std::optional<torch::ScalarType> dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

// Generator states by name ("cpu", "cuda:0", ...), each a uint8 tensor.
std::vector<std::pair<std::string, torch::Tensor>> capture_rng();
// Restores what capture_rng() returned; names not present on this machine are an error naming `where`.
void restore_rng(const std::vector<std::pair<std::string, torch::Tensor>>& states, const std::string& where);

// Catches SIGINT and SIGTERM while alive: the first sets stop_requested() so the loop can save a
// checkpoint and exit; a second one of either ends the process at once (the default action).
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static bool stop_requested();
  static int signal();  // the signal received, 0 when none
};

}  // namespace rleif::train

RLEIF_ENUM_NAMES(rleif::train::Precision, {rleif::train::Precision::auto_, "auto"},
                 {rleif::train::Precision::fp32, "fp32"}, {rleif::train::Precision::bf16, "bf16"});
