// CUDA-graph capture and replay of the decode step (compiled only when CUDA is present).
//
// One graph per (rows, kv_len) bucket, both rounded up to powers of two, so a handful of captures
// cover a whole run. Inputs are copied into static device buffers before each replay; rows beyond
// the live ones are fed token 0 at position 0, which writes only position 0 of their own free row.
// All graphs share one memory pool: they are replayed one at a time and each keeps its own output.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <map>

#include "core/log.h"
#include "rollout/graph_decoder.h"

namespace rleif::rollout {

namespace {

int64_t round_up_pow2(int64_t x, int64_t floor, int64_t cap) {
  int64_t b = floor;
  while (b < x) b *= 2;
  return std::min(b, cap);
}

class CudaGraphDecoder final : public GraphDecoder {
 public:
  explicit CudaGraphDecoder(Decoder& decoder) : dec_(decoder), pool_(at::cuda::graph_pool_handle()) {
    const int64_t bc = dec_.slots();
    auto i64 = torch::TensorOptions().dtype(torch::kInt64);
    ids_ = torch::zeros({bc, 1}, i64.device(dec_.device()));
    pos_ = torch::zeros({bc, 1}, i64.device(dec_.device()));
    host_ = torch::zeros({2, bc, 1}, i64.pinned_memory(true));
  }

  torch::Tensor decode(const std::vector<int64_t>& ids, const std::vector<int64_t>& positions, int64_t kv_len) override {
    const int64_t b = static_cast<int64_t>(ids.size());
    RLEIF_CHECK(b >= 1 && b <= dec_.slots() && positions.size() == ids.size(), "rollout: graph decode of ", b, " rows");
    const int64_t rb = round_up_pow2(b, 1, dec_.slots());
    const int64_t lb = round_up_pow2(kv_len, 64, dec_.capacity());
    // The previous step's copies finished before its tokens reached the host, so the staging
    // buffer is free to overwrite.
    host_.zero_();
    auto ha = host_.accessor<int64_t, 3>();
    for (int64_t i = 0; i < b; ++i) {
      ha[0][i][0] = ids[i];
      ha[1][i][0] = positions[i];
    }
    ids_.copy_(host_[0], /*non_blocking=*/true);
    pos_.copy_(host_[1], /*non_blocking=*/true);
    auto key = std::make_pair(rb, lb);
    auto it = graphs_.find(key);
    if (it == graphs_.end()) it = graphs_.emplace(key, capture(rb, lb)).first;
    it->second->graph.replay();
    return it->second->logits.narrow(0, 0, b);
  }

  size_t graphs() const override { return graphs_.size(); }

 private:
  struct Captured {
    at::cuda::CUDAGraph graph;
    torch::Tensor logits;  // [rows, V], the graph's static output
  };

  torch::Tensor step(int64_t rows, int64_t kv_len) {
    auto hidden = dec_.forward(ids_.narrow(0, 0, rows), pos_.narrow(0, 0, rows), {}, kv_len);  // [rows,1,H]
    return dec_.logits(hidden.squeeze(1));
  }

  std::unique_ptr<Captured> capture(int64_t rows, int64_t kv_len) {
    auto cap = std::make_unique<Captured>();
    auto side = c10::cuda::getStreamFromPool(false, dec_.device().index());
    torch::cuda::synchronize(dec_.device().index());
    {
      c10::cuda::CUDAStreamGuard guard(side);
      // Warm-up runs pick kernels and allocate workspaces outside the capture. They compute the
      // current step itself, so the cache positions they write are the ones the replay rewrites.
      for (int i = 0; i < 2; ++i) step(rows, kv_len);
      side.synchronize();
      cap->graph.capture_begin(pool_);
      cap->logits = step(rows, kv_len);
      cap->graph.capture_end();
    }
    torch::cuda::synchronize(dec_.device().index());
    log_debug("rollout: captured a CUDA graph for ", rows, " rows x ", kv_len, " positions");
    return cap;
  }

  Decoder& dec_;
  at::cuda::MempoolId_t pool_;
  torch::Tensor ids_, pos_;  // [Bc,1] static inputs
  torch::Tensor host_;       // [2,Bc,1] pinned staging for ids and positions
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Captured>> graphs_;
};

}  // namespace

std::unique_ptr<GraphDecoder> make_cuda_graph_decoder(Decoder& decoder) {
  return std::make_unique<CudaGraphDecoder>(decoder);
}

}  // namespace rleif::rollout
