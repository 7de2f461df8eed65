// Process-wide allocator settings for long-running jobs.
#pragma once

namespace rleif {

// Keeps heap memory the process frees for its own reuse instead of handing it back to the kernel.
//
// glibc serves large blocks with mmap (and gives the heap's free top back above a trim threshold), so
// each training step that allocates its activations again pays a page fault and a page zeroing for
// every 4 KiB of them: 100k-240k faults in a 25M-parameter step whose batch shape changed
// (docs/perf/train.md). With this, blocks come from the heap and stay there, so the process settles
// at its peak footprint, as PyTorch's CUDA caching allocator does on the GPU. Called at the start of
// the rleif binary; RLEIF_MALLOC=system keeps glibc's defaults. No effect off glibc.
void retain_freed_memory();

}  // namespace rleif
