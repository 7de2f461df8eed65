#include "rollout/graph_decoder.h"

namespace rleif::rollout {

#ifdef RLEIF_ROLLOUT_CUDA
std::unique_ptr<GraphDecoder> make_cuda_graph_decoder(Decoder& decoder);  // rollout/cuda/
#endif

std::unique_ptr<GraphDecoder> GraphDecoder::create(Decoder& decoder) {
  if (!decoder.device().is_cuda()) return nullptr;
#ifdef RLEIF_ROLLOUT_CUDA
  return make_cuda_graph_decoder(decoder);
#else
  return nullptr;
#endif
}

}  // namespace rleif::rollout
