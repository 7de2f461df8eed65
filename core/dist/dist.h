// Data parallelism over PyTorch's own distributed engine (c10d): the processes of one job meet
// through a TCPStore named by torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT) and talk through ProcessGroupGloo on the CPU or ProcessGroupNCCL on CUDA, so
// `torchrun --nproc-per-node N --no-python rleif sft ...` and multi-node torchrun work as they do
// for a Python script. Without RANK/WORLD_SIZE the world is one process and every call is a no-op.
//
// Every collective is called by all ranks in the same order; a peer that dies makes the others
// fail at their next collective (at once when its sockets close, else after `timeout_s`) with an
// rleif::Error that says which collective, on which rank, and how to resume.
#pragma once
#include <torch/torch.h>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/dist/options.h"
#include "core/jsonl.h"

namespace rleif::dist {

// torchrun's environment, parsed and checked (world 1, rank 0 when RANK and WORLD_SIZE are unset).
struct Launch {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  std::string store_prefix = "rleif/0";  // keys of this attempt (TORCHELASTIC_RESTART_COUNT)
  bool agent_store = false;              // torchrun's agent hosts the store: every rank is a client
  static Launch from_env();
};

class Context {
 public:
  // The process-wide context: created on the first call from the environment for `device`
  // (NCCL for CUDA, Gloo otherwise); later calls return it (and must ask for the same device type).
  static Context& world(const DistOptions& opts, const torch::Device& device);
  // A context over an explicit launch (tests); world() uses Launch::from_env().
  Context(const Launch& launch, const DistOptions& opts, const torch::Device& device);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int rank() const { return launch_.rank; }
  int size() const { return launch_.world; }
  int local_rank() const { return launch_.local_rank; }
  bool is_main() const { return launch_.rank == 0; }
  bool distributed() const { return launch_.world > 1; }
  const DistOptions& options() const { return opts_; }
  const torch::Device& device() const { return device_; }
  std::string backend_name() const;

  // Elementwise sum over ranks, in place (tensors of any dtype/device; moved through the backend's device).
  void all_reduce_sum(torch::Tensor& t, const std::string& what);
  // Every rank gets rank `root`'s values, in place.
  void broadcast(std::vector<torch::Tensor>& ts, int root, const std::string& what);
  // Every rank's string, by rank.
  std::vector<std::string> all_gather(const std::string& s, const std::string& what);
  // Rank 0's string on every rank.
  std::string share(const std::string& s, const std::string& what);
  void barrier(const std::string& what);
  // True on every rank when `flag` is true on any (e.g. a stop signal one rank received).
  bool any(bool flag, const std::string& what);
  // The numbers of every rank's object summed key by key (keys any rank has; non-numbers dropped).
  json sum_numbers(const json& j, const std::string& what);
  // The start of a data-parallel job: every rank describes what it read (`mine`, e.g. "120 prompts and
  // 9 trained tensors (1.6M values)"); a rank whose description differs from rank 0's is an error on
  // every rank, naming it and saying that all ranks must read the same `inputs` with the same config
  // (else the collectives would disagree or hang). Then rank 0's `params` are copied to every rank, as
  // DistributedDataParallel does at construction.
  void start_alike(const std::string& mine, std::vector<torch::Tensor>& params, const std::string& inputs);

  // Sums the gradients of `params` over ranks in buckets of options().bucket_mb (one flat buffer
  // per bucket and dtype). A parameter without a gradient on a rank counts as zero there; one
  // without a gradient on every rank stays without one (as in a single process).
  void all_reduce_gradients(const std::vector<torch::Tensor>& params);

 private:
  [[noreturn]] void fail(const std::string& what, const std::exception& e) const;
  torch::Tensor to_comm(const torch::Tensor& t) const;

  Launch launch_;
  DistOptions opts_;
  torch::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
};

// [lo, hi) of n items that rank `rank` of `world` takes (contiguous, sizes differ by at most one).
std::pair<int64_t, int64_t> shard(int64_t n, int rank, int world);

}  // namespace rleif::dist
