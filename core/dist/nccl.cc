// The one translation unit that includes ProcessGroupNCCL.hpp (built only with CUDA): it calls
// LibTorch's compiled Options/constructor only.
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "core/dist/backends.h"

namespace rleif::dist::detail {

c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                            std::chrono::milliseconds timeout, int device_index) {
  // One GPU per process: collectives and the NCCL communicator live on cuda:LOCAL_RANK.
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
}

}  // namespace rleif::dist::detail
