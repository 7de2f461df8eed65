// Options of data-parallel runs (core/dist/dist.h), apart so that configs include no c10d header.
#pragma once

namespace rleif::dist {

struct DistOptions {
  double timeout_s = 1800;   // a collective (or the rendezvous) waiting longer fails: torch's default (30 min)
  double bucket_mb = 25;     // gradients all-reduced per bucket (DDP's bucket_cap_mb)

  template <class V>
  void visit(V& v) {
    v.field("timeout_s", timeout_s, "multi-process runs: seconds a rank waits for the others before failing");
    v.field("bucket_mb", bucket_mb, "multi-process runs: MiB of gradients all-reduced together");
  }
  void validate() const;
};

}  // namespace rleif::dist
