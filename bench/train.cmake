# Training throughput: rleif vs PyTorch eager (transformers LlamaForCausalLM) on the same weights,
# batches and threads. See docs/perf/train.md for the commands and results.
if(TARGET rleif_test_util)
  add_executable(train_throughput ${CMAKE_CURRENT_SOURCE_DIR}/train_throughput.cc)
  target_link_libraries(train_throughput PRIVATE rleif_train rleif_test_util CLI11::CLI11)
  rleif_torch_target(train_throughput)
endif()

# Training attention alone: model/fused_attention.h vs SDPA, forward + backward.
add_executable(train_attention ${CMAKE_CURRENT_SOURCE_DIR}/train_attention.cc)
target_link_libraries(train_attention PRIVATE rleif_model CLI11::CLI11)
rleif_torch_target(train_attention)
