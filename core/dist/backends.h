// The two translation units that include a c10d backend's header (gloo.cc, nccl.cc). They only call
// LibTorch's compiled constructors, so the rest of rleif sees the abstract c10d::Backend and never
// the Gloo or NCCL headers (Gloo's come from Debian's libgloo-dev; LibTorch does not ship them).
#pragma once
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

namespace rleif::dist::detail {

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                            std::chrono::milliseconds timeout);
// Only in builds with CUDA (RLEIF_DIST_NCCL); binds the calling thread to cuda:`device_index`.
c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                            std::chrono::milliseconds timeout, int device_index);

}  // namespace rleif::dist::detail
