// CUDA-graph replay of the decode step. Decoding one token for a batch launches hundreds of small
// kernels; capturing Decoder::forward + logits once per (rows, kv_len) bucket and replaying it removes
// the per-kernel launch cost, which dominates small and mid-size models on a GPU.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "rollout/decoder.h"

namespace rleif::rollout {

class GraphDecoder {
 public:
  virtual ~GraphDecoder() = default;
  // Null unless this build has CUDA sources and the decoder's model lives on a CUDA device.
  static std::unique_ptr<GraphDecoder> create(Decoder& decoder);
  // One decode step for cache rows 0..B-1: ids [B], positions [B] (host values; idle rows give 0,
  // which only writes position 0 of their own free row), every position < kv_len -> logits [B,V] on
  // the device, valid until the next call.
  virtual torch::Tensor decode(const std::vector<int64_t>& ids, const std::vector<int64_t>& positions,
                               int64_t kv_len) = 0;
  // Graphs captured so far (one per bucket used).
  virtual size_t graphs() const = 0;
};

}  // namespace rleif::rollout
