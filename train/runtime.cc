#include "train/runtime.h"

#include <ATen/autocast_mode.h>
#include <csignal>
#include <cstdlib>

#include <atomic>

#include "core/error.h"

namespace rleif::train {

std::optional<torch::ScalarType> autocast_dtype(Precision p, const torch::Device& device) {
  switch (p) {
    case Precision::fp32:
      return std::nullopt;
    case Precision::bf16:
      return torch::kBFloat16;
    case Precision::auto_:
      break;
  }
  return device.is_cuda() ? std::optional<torch::ScalarType>(torch::kBFloat16) : std::nullopt;
}

void configure_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

void configure_determinism(bool deterministic, uint64_t seed) {
  torch::manual_seed(seed);
  if (deterministic) {
    // cuBLAS needs a fixed workspace for reproducible GEMMs; it reads the variable at its first use.
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    // warn_only: a CUDA op with no deterministic kernel warns instead of aborting the run.
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  }
}

AutocastGuard::AutocastGuard(const torch::Device& device, std::optional<torch::ScalarType> dtype) {
  if (!dtype) return;
  active_ = true;
  type_ = device.type();
  prev_enabled_ = at::autocast::is_autocast_enabled(type_);
  prev_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, *dtype);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Like torch.autocast.__exit__: the cast-weight cache lives until the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, prev_enabled_);
  at::autocast::set_autocast_dtype(type_, prev_dtype_);
}

std::vector<std::pair<std::string, torch::Tensor>> capture_rng() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back("cpu", at::globalContext().defaultGenerator(torch::kCPU).get_state());
  if (torch::cuda::is_available())
    for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i) {
      torch::Device d(torch::kCUDA, static_cast<c10::DeviceIndex>(i));
      out.emplace_back(d.str(), at::globalContext().defaultGenerator(d).get_state());
    }
  return out;
}

void restore_rng(const std::vector<std::pair<std::string, torch::Tensor>>& states, const std::string& where) {
  for (auto& [name, state] : states) {
    torch::Device d(name);
    if (d.is_cuda() && (!torch::cuda::is_available() || d.index() >= static_cast<int64_t>(torch::cuda::device_count()))) {
      RLEIF_FAIL(where, ": the checkpoint holds the RNG state of ", name,
                 ", which this machine does not have; resume on the same kind of machine");
    }
    auto gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
}

namespace {
std::atomic<int> g_signal{0};
struct sigaction g_old_int, g_old_term;
void on_signal(int sig) {
  g_signal.store(sig);
  // A second signal takes the default action (the user insists).
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}
}  // namespace

StopSignals::StopSignals() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool StopSignals::stop_requested() { return g_signal.load() != 0; }
int StopSignals::signal() { return g_signal.load(); }

}  // namespace rleif::train
