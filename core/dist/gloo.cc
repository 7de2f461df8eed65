// The one translation unit that includes ProcessGroupGloo.hpp (and so Gloo's headers): it calls
// LibTorch's compiled Options/constructor only; everything Gloo-typed stays behind pointers.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "core/dist/backends.h"

namespace rleif::dist::detail {

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                            std::chrono::milliseconds timeout) {
  // create_default: the device torch.distributed picks (GLOO_SOCKET_IFNAME / GLOO_DEVICE_TRANSPORT
  // honoured, else the interface of this host's name, else loopback).
  auto opts = c10d::ProcessGroupGloo::Options::create_default(timeout);
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
}

}  // namespace rleif::dist::detail
