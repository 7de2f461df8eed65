#include "core/dist/dist.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <mutex>

#include "core/dist/backends.h"
#include "core/error.h"
#include "core/log.h"

namespace rleif::dist {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, int lo, int hi) {
  const char* v = env(name);
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  RLEIF_CHECK(end && *end == 0 && x >= lo && x <= hi, "environment variable ", name, "='", v, "': expected an integer in [",
              lo, ", ", hi, "] (torchrun sets it; when launching by hand set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)");
  return static_cast<int>(x);
}

std::string message_of(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

}  // namespace

void DistOptions::validate() const {
  RLEIF_CHECK(timeout_s > 0, "timeout_s = ", timeout_s, ": must be > 0 seconds");
  RLEIF_CHECK(bucket_mb > 0, "bucket_mb = ", bucket_mb, ": must be > 0 MiB");
}

Launch Launch::from_env() {
  Launch l;
  const bool has_rank = env("RANK") != nullptr, has_world = env("WORLD_SIZE") != nullptr;
  RLEIF_CHECK(has_rank == has_world, "RANK is ", has_rank ? "set" : "unset", " but WORLD_SIZE is ", has_world ? "set" : "unset",
              "; set both (torchrun does) or neither (one process)");
  if (!has_rank) return l;
  l.world = env_int("WORLD_SIZE", 1, 1 << 20);
  l.rank = env_int("RANK", 0, l.world - 1);
  l.local_rank = env("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, 1 << 20) : l.rank;
  if (l.world == 1) return l;
  RLEIF_CHECK(env("MASTER_ADDR"), "WORLD_SIZE=", l.world, " but MASTER_ADDR is unset; set it to rank 0's host (torchrun does)");
  RLEIF_CHECK(env("MASTER_PORT"), "WORLD_SIZE=", l.world, " but MASTER_PORT is unset; set it to a free port on rank 0's host");
  l.master_addr = env("MASTER_ADDR");
  l.master_port = env_int("MASTER_PORT", 1, 65535);
  // torchrun's agent already serves a TCPStore at MASTER_ADDR:MASTER_PORT (torch.distributed.rendezvous
  // _create_c10d_store); each restart of the workers is a fresh attempt with its own keys.
  l.agent_store = env("TORCHELASTIC_USE_AGENT_STORE") && std::string(env("TORCHELASTIC_USE_AGENT_STORE")) == "True";
  l.store_prefix = std::string("rleif/") + (env("TORCHELASTIC_RESTART_COUNT") ? env("TORCHELASTIC_RESTART_COUNT") : "0");
  return l;
}

Context& Context::world(const DistOptions& opts, const torch::Device& device) {
  static std::mutex mu;
  // Never destroyed: a backend torn down by static destructors after a failed peer can block exit.
  static Context* ctx = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (!ctx) ctx = new Context(Launch::from_env(), opts, device);
  RLEIF_CHECK(ctx->device_.type() == device.type() || !ctx->distributed(), "this process already joined its ranks on ",
              ctx->device_.str(), " and now asks for ", device.str(), "; one job uses one device type");
  return *ctx;
}

Context::Context(const Launch& launch, const DistOptions& opts, const torch::Device& device)
    : launch_(launch), opts_(opts), device_(device) {
  opts_.validate();
  if (!distributed()) return;
  if (device_.is_cuda()) device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(
                                                                     device.has_index() ? device.index() : launch_.local_rank));
  else device_ = torch::Device(torch::kCPU);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(opts_.timeout_s * 1000));
  const std::string where = str(launch_.master_addr, ":", launch_.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(launch_.master_port);
    so.isServer = !launch_.agent_store && launch_.rank == 0;
    if (!launch_.agent_store) so.numWorkers = static_cast<size_t>(launch_.world);
    so.timeout = timeout;
    so.multiTenant = true;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(launch_.master_addr, so);
    store_ = c10::make_intrusive<c10d::PrefixStore>(launch_.store_prefix, tcp);
  } catch (const std::exception& e) {
    RLEIF_FAIL("rank ", launch_.rank, "/", launch_.world, ": rendezvous at ", where, " failed: ", message_of(e),
               "; check MASTER_ADDR/MASTER_PORT (rank 0 must be able to listen there) and that all ", launch_.world,
               " ranks start within dist.timeout_s=", opts_.timeout_s);
  }
  try {
    if (device_.is_cuda()) {
#ifdef RLEIF_DIST_NCCL
      backend_ = detail::make_nccl(store_, launch_.rank, launch_.world, timeout, device_.index());
#else
      RLEIF_FAIL("rank ", launch_.rank, ": multi-process CUDA training needs NCCL, but this rleif was built without CUDA ",
                 "(RLEIF_WITH_CUDA=OFF or no CUDA toolkit); rebuild with CUDA or train on the CPU (train.device=cpu)");
#endif
    } else {
      backend_ = detail::make_gloo(store_, launch_.rank, launch_.world, timeout);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    RLEIF_FAIL("rank ", launch_.rank, "/", launch_.world, ": creating the ", device_.is_cuda() ? "NCCL" : "Gloo",
               " process group through ", where, " failed: ", message_of(e),
               "; on several hosts set GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME to the interface the hosts share");
  }
  if (launch_.rank != 0 && log_level() == LogLevel::info) set_log_level(LogLevel::warn);  // rank 0 speaks for the job
  log_info("data parallel: ", launch_.world, " ranks over ", backend_name(), " (rendezvous ", where, ")");
}

Context::~Context() = default;

std::string Context::backend_name() const { return !distributed() ? "none" : device_.is_cuda() ? "nccl" : "gloo"; }

void Context::fail(const std::string& what, const std::exception& e) const {
  RLEIF_FAIL("rank ", launch_.rank, "/", launch_.world, ": ", what, " failed: ", message_of(e),
             "; another rank stopped or cannot be reached (its own log says why). The last checkpoint is intact: ",
             "rerun the same command on all ranks to resume");
}

torch::Tensor Context::to_comm(const torch::Tensor& t) const { return t.to(device_).contiguous(); }

void Context::all_reduce_sum(torch::Tensor& t, const std::string& what) {
  if (!distributed()) return;
  try {
    std::vector<torch::Tensor> v{to_comm(t)};
    backend_->allreduce(v)->wait();
    if (!v[0].is_same(t)) t.copy_(v[0]);
  } catch (const std::exception& e) {
    fail(what, e);
  }
}

void Context::broadcast(std::vector<torch::Tensor>& ts, int root, const std::string& what) {
  if (!distributed()) return;
  try {
    for (auto& t : ts) {
      std::vector<torch::Tensor> v{to_comm(t)};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      backend_->broadcast(v, o)->wait();
      if (!v[0].is_same(t)) {
        torch::NoGradGuard ng;
        t.copy_(v[0]);
      }
    }
  } catch (const std::exception& e) {
    fail(what, e);
  }
}

std::vector<std::string> Context::all_gather(const std::string& s, const std::string& what) {
  if (!distributed()) return {s};
  torch::Tensor len = torch::zeros({launch_.world}, torch::kInt64);
  len[launch_.rank] = static_cast<int64_t>(s.size());
  all_reduce_sum(len, what);
  const int64_t width = std::max<int64_t>(1, len.max().item<int64_t>());
  torch::Tensor bytes = torch::zeros({launch_.world, width}, torch::kUInt8);  // [world, width]
  if (!s.empty())
    bytes[launch_.rank].narrow(0, 0, static_cast<int64_t>(s.size()))
        .copy_(torch::from_blob(const_cast<char*>(s.data()), {static_cast<int64_t>(s.size())}, torch::kUInt8));
  all_reduce_sum(bytes, what);  // only the owner's row is nonzero: the sum is a gather
  std::vector<std::string> out;
  for (int r = 0; r < launch_.world; ++r)
    out.emplace_back(reinterpret_cast<const char*>(bytes[r].data_ptr<uint8_t>()), static_cast<size_t>(len[r].item<int64_t>()));
  return out;
}

std::string Context::share(const std::string& s, const std::string& what) {
  if (!distributed()) return s;
  return all_gather(launch_.rank == 0 ? s : std::string(), what)[0];
}

void Context::barrier(const std::string& what) {
  torch::Tensor one = torch::ones({1}, torch::kInt64);
  all_reduce_sum(one, what);
}

bool Context::any(bool flag, const std::string& what) {
  if (!distributed()) return flag;
  torch::Tensor t = torch::full({1}, flag ? 1 : 0, torch::kInt64);
  all_reduce_sum(t, what);
  return t.item<int64_t>() > 0;
}

void Context::start_alike(const std::string& mine, std::vector<torch::Tensor>& params, const std::string& inputs) {
  const auto all = all_gather(mine, "comparing the ranks' " + inputs);
  for (int r = 1; r < size(); ++r)
    RLEIF_CHECK(all[static_cast<size_t>(r)] == all[0], "rank ", r, " has ", all[static_cast<size_t>(r)], " but rank 0 has ",
                all[0], "; all ranks must read the same ", inputs, " with the same config");
  broadcast(params, 0, "copying rank 0's weights to every rank");
}

json Context::sum_numbers(const json& j, const std::string& what) {
  if (!distributed()) return j;
  json out = json::object();
  for (const auto& s : all_gather(j.dump(), what)) {
    const json one = json::parse(s);
    for (auto& [k, v] : one.items())
      if (v.is_number()) out[k] = out.value(k, 0.0) + v.get<double>();
  }
  return out;
}

void Context::all_reduce_gradients(const std::vector<torch::Tensor>& params) {
  if (!distributed()) return;
  torch::NoGradGuard ng;
  const int64_t P = static_cast<int64_t>(params.size());
  torch::Tensor has = torch::zeros({P}, torch::kInt64);  // [P] ranks holding a gradient
  for (int64_t i = 0; i < P; ++i)
    if (params[static_cast<size_t>(i)].grad().defined()) has[i] = 1;
  all_reduce_sum(has, "the gradient presence all-reduce");
  auto* hp = has.data_ptr<int64_t>();
  const double cap = opts_.bucket_mb * 1024.0 * 1024.0;

  struct Bucket {
    std::vector<size_t> members;
    torch::Tensor flat;
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<Bucket> buckets;
  std::vector<size_t> cur;
  double cur_bytes = 0;
  auto flush = [&] {
    if (cur.empty()) return;
    const auto& p0 = params[cur[0]];
    std::vector<torch::Tensor> parts;
    for (size_t i : cur) {
      const auto& g = params[i].grad();
      parts.push_back(g.defined() ? g.reshape({-1}).to(device_) : torch::zeros({params[i].numel()}, p0.options().device(device_)));
    }
    buckets.push_back(Bucket{cur, torch::cat(parts), {}});
    cur.clear();
    cur_bytes = 0;
  };
  for (size_t i = 0; i < params.size(); ++i) {
    if (hp[i] == 0) continue;
    if (!cur.empty() && (params[i].scalar_type() != params[cur[0]].scalar_type() || cur_bytes >= cap)) flush();
    cur.push_back(i);
    cur_bytes += static_cast<double>(params[i].numel() * params[i].element_size());
  }
  flush();
  try {  // every bucket in flight at once, then wait
    for (auto& b : buckets) {
      std::vector<torch::Tensor> v{b.flat};
      b.work = backend_->allreduce(v);
    }
    for (auto& b : buckets) b.work->wait();
  } catch (const std::exception& e) {
    fail("the gradient all-reduce", e);
  }
  for (auto& b : buckets) {
    int64_t off = 0;
    for (size_t i : b.members) {
      const auto& p = params[i];
      torch::Tensor slice = b.flat.narrow(0, off, p.numel()).view(p.sizes());
      off += p.numel();
      if (p.grad().defined()) p.mutable_grad().copy_(slice);
      else p.mutable_grad() = slice.to(p.device()).clone();
    }
  }
}

std::pair<int64_t, int64_t> shard(int64_t n, int rank, int world) {
  return {n * rank / world, n * (rank + 1) / world};
}

}  // namespace rleif::dist
