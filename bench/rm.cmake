# Reward-model throughput: rleif's RmTask / end_logits vs TRL's PRMTrainer / RewardTrainer and a
# transformers forward, on the same weights, batches and threads. See docs/perf/rm.md.
if(TARGET rleif_rm AND TARGET rleif_rm_test_util)
  add_executable(rm_throughput ${CMAKE_CURRENT_SOURCE_DIR}/rm_throughput.cc)
  target_link_libraries(rm_throughput PRIVATE rleif_rm rleif_rm_test_util rleif_test_util CLI11::CLI11)
  rleif_torch_target(rm_throughput)
endif()
